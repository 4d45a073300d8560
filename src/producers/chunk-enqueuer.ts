import type { Queue } from 'bullmq';
import { chunkJobId, chunksPerJob, planChunkJobs, type PlannedChunk } from '../domain/chunk-plan.js';
import type { RepeatFinder } from '../domain/repeats.js';
import { CHUNK_SIZE, type ChunkJob, JOBS } from '../contract/index.js';
import { chunkJobOptions } from '../queue/job-options.js';

// Each addBulk is one pipelined round trip; this many chunks per trip keeps a single
// MULTI small while a million-member batch still enqueues in a few hundred trips.
const ENQUEUE_SLICE_CHUNKS = 500;
// No job of a slice is visible to a worker before the whole slice is added, and building and adding
// 500 took about 50 ms: the first slices are small, so the workers start on a batch at once.
const FIRST_SLICE_JOBS = 16;
/**
 * A job of an operation whose chunks apply in order waits this long unless the job before it hands
 * over sooner (`promote`), which it does as soon as its chunks are applied or given up; a worker
 * that dies before handing over leaves its job stalled, and the worker that runs it again hands
 * over. The delay is the last resort, not a schedule: jobs that woke while the one before was still
 * running would only wait again.
 */
export const HANDOVER_DELAY_MS = 10 * 60_000;

export interface EnqueueOptions {
  attempts: number;
  /** Chunks apply one after another: every job but the first waits for the one before. */
  ordered: boolean;
  /** The key of an item, and which keys repeat an earlier one: repeats are marked on their job. */
  itemKey: (item: unknown) => string;
  repeats: RepeatFinder;
  /** Called as chunks reach the queue, with the number of items they held. */
  onEnqueued?: (items: number) => void;
}

/**
 * Puts the operation's chunks on the chunk queue, `chunksPerJob` to a job. Each job carries its
 * own slice of the batch and nothing more, so Redis holds the member list once, and the positions
 * of its items that repeat an earlier key. Job ids are deterministic: enqueueing the same
 * operation again adds nothing that is still there, and applying is idempotent for the rest.
 * Items may be a stream; at most ENQUEUE_SLICE_CHUNKS chunks are held at a time.
 */
export async function enqueueChunks(
  queue: Queue,
  operationId: string,
  items: Iterable<unknown> | AsyncIterable<unknown>,
  chunksTotal: number,
  options: EnqueueOptions,
): Promise<void> {
  const jobOptions = chunkJobOptions(options.attempts);
  const perJob = chunksPerJob(chunksTotal);
  const add = async (jobs: PlannedChunk<unknown>[]) => {
    await queue.addBulk(
      jobs.map((job) => ({
        name: JOBS.chunk,
        data: { operationId, ...job } satisfies ChunkJob,
        opts: {
          ...jobOptions,
          jobId: chunkJobId(operationId, job.chunkIndex, perJob),
          ...(options.ordered && job.chunkIndex > 0 && { delay: HANDOVER_DELAY_MS }),
        },
      })),
    );
    options.onEnqueued?.(jobs.reduce((n, c) => n + c.items.length, 0));
  };
  const fullSlice = Math.max(1, Math.floor(ENQUEUE_SLICE_CHUNKS / perJob));
  let pending: PlannedChunk<unknown>[] = [];
  let slice = Math.min(FIRST_SLICE_JOBS, fullSlice);
  let count = 0;
  for await (const job of planChunkJobs(items, CHUNK_SIZE, perJob)) {
    const repeats = repeatPositions(job, options);
    pending.push(repeats.length > 0 ? { ...job, repeats } : job);
    count += 1;
    if (pending.length === slice) {
      await add(pending);
      pending = [];
      slice = Math.min(slice * 4, fullSlice);
    }
  }
  // An operation without items (the enterprise switch) is still one chunk of work.
  if (count === 0) pending.push({ chunkIndex: 0, offset: 0, items: [] });
  if (pending.length > 0) await add(pending);
}

function repeatPositions(job: PlannedChunk<unknown>, options: EnqueueOptions): number[] {
  const positions: number[] = [];
  for (let i = 0; i < job.items.length; i += 1)
    if (options.repeats.isRepeat(options.itemKey(job.items[i]))) positions.push(job.offset + i);
  return positions;
}
