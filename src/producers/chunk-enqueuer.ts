import type { Queue } from 'bullmq';
import { chunkJobId, chunksPerJob, planChunkJobs, type PlannedChunk } from '../domain/chunk-plan.js';
import type { RepeatFinder } from '../domain/repeats.js';
import { CHUNK_SIZE, type ChunkJob, chunkJobName } from '../contract/index.js';
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

/** What a chunk job is built from, besides its own range. */
export interface ChunkJobTarget {
  operationId: string;
  kind: string;
  chunksTotal: number;
  /** Its chunks apply one after another: every job but the first waits for the one before. */
  ordered: boolean;
}

export interface EnqueueOptions {
  attempts: number;
  /** Whether the job starting at this chunk waits for a handover (default: ordered and not the first). */
  delayed?: (chunkIndex: number) => boolean;
  /** Called as chunks reach the queue, with the number of items they held. */
  onEnqueued?: (items: number) => void;
}

/**
 * Splits a batch into its chunk jobs, `chunksPerJob` chunks to a job, marking the positions of the
 * items that repeat an earlier key (`repeats` is fed every key once, in batch order). Items may
 * be a stream: one job is held at a time.
 */
export async function* plannedJobs(
  items: Iterable<unknown> | AsyncIterable<unknown>,
  chunksTotal: number,
  itemKey: (item: unknown) => string,
  repeats: RepeatFinder,
): AsyncGenerator<PlannedChunk<unknown>> {
  let count = 0;
  for await (const job of planChunkJobs(items, CHUNK_SIZE, chunksPerJob(chunksTotal))) {
    count += 1;
    const positions: number[] = [];
    for (let i = 0; i < job.items.length; i += 1)
      if (repeats.isRepeat(itemKey(job.items[i]))) positions.push(job.offset + i);
    yield positions.length > 0 ? { ...job, repeats: positions } : job;
  }
  // An operation without items (the enterprise switch) is still one chunk of work.
  if (count === 0) yield { chunkIndex: 0, offset: 0, items: [] };
}

/** A job that carries its items, sparing the worker their read from Postgres. */
export function jobWithItems(target: ChunkJobTarget, job: PlannedChunk<unknown>): ChunkJob {
  return {
    operationId: target.operationId,
    kind: target.kind,
    chunkIndex: job.chunkIndex,
    chunks: Math.max(1, Math.ceil(job.items.length / CHUNK_SIZE)),
    itemCount: job.items.length,
    offset: job.offset,
    ...(job.repeats && { repeats: job.repeats }),
    items: job.items,
  };
}

/** A job that names its range only: the worker reads its items from Postgres. */
export function rangeJob(target: ChunkJobTarget, chunkIndex: number, itemCount: number): ChunkJob {
  const chunks = Math.max(1, Math.min(chunksPerJob(target.chunksTotal), target.chunksTotal - chunkIndex));
  return { operationId: target.operationId, kind: target.kind, chunkIndex, chunks, itemCount };
}

/** Every job of an operation, by range: what a streamed batch enqueues once its items are stored. */
export function* rangeJobs(target: ChunkJobTarget, itemsTotal: number): Generator<ChunkJob> {
  const perJob = chunksPerJob(target.chunksTotal);
  for (let chunkIndex = 0; chunkIndex < target.chunksTotal; chunkIndex += perJob) {
    const itemCount = Math.max(0, Math.min(perJob * CHUNK_SIZE, itemsTotal - chunkIndex * CHUNK_SIZE));
    yield rangeJob(target, chunkIndex, itemCount);
  }
}

/**
 * Puts chunk jobs on the chunk queue, in slices. Job ids are deterministic: enqueueing the same
 * operation again adds nothing that is still there, and applying is idempotent for the rest.
 * Jobs may be a stream; at most ENQUEUE_SLICE_CHUNKS chunks are held at a time.
 */
export async function enqueueChunkJobs(
  queue: Queue,
  target: ChunkJobTarget,
  jobs: Iterable<ChunkJob> | AsyncIterable<ChunkJob>,
  options: EnqueueOptions,
): Promise<void> {
  const jobOptions = chunkJobOptions(options.attempts);
  const perJob = chunksPerJob(target.chunksTotal);
  const delayed = options.delayed ?? ((chunkIndex: number) => target.ordered && chunkIndex > 0);
  const add = async (slice: ChunkJob[]) => {
    await queue.addBulk(
      slice.map((data) => ({
        name: chunkJobName(target.kind, data.chunkIndex, data.chunks ?? 1),
        data,
        opts: {
          ...jobOptions,
          jobId: chunkJobId(target.operationId, data.chunkIndex, perJob),
          ...(delayed(data.chunkIndex) && { delay: HANDOVER_DELAY_MS }),
        },
      })),
    );
    options.onEnqueued?.(slice.reduce((n, job) => n + (job.itemCount ?? 0), 0));
  };
  const fullSlice = Math.max(1, Math.floor(ENQUEUE_SLICE_CHUNKS / perJob));
  let pending: ChunkJob[] = [];
  let slice = Math.min(FIRST_SLICE_JOBS, fullSlice);
  for await (const job of jobs) {
    pending.push(job);
    if (pending.length === slice) {
      await add(pending);
      pending = [];
      slice = Math.min(slice * 4, fullSlice);
    }
  }
  if (pending.length > 0) await add(pending);
}
