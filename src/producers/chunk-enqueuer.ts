import type { Queue } from 'bullmq';
import { chunkJobId, chunksPerJob, planChunkJobs, type PlannedChunk } from '../domain/operations/chunk-plan.js';
import { CHUNK_SIZE, type ChunkJob, JOBS } from './contract.js';
import { chunkJobOptions } from '../queue/job-options.js';

// Each addBulk is one pipelined round trip; this many chunks per trip keeps a single
// MULTI small while a million-member batch still enqueues in a few hundred trips.
const ENQUEUE_SLICE_CHUNKS = 500;
// No job of a slice is visible to a worker before the whole slice is added, and building and adding
// 500 took about 50 ms: the first slices are small, so the workers start on a batch at once.
const FIRST_SLICE_JOBS = 16;

/**
 * Puts the operation's chunks on the chunk queue, `chunksPerJob(chunksTotal)` to a job. Each job
 * carries its own slice of the batch and nothing more, so Redis holds the member list once. Job
 * ids are deterministic: enqueueing the same operation again adds nothing that is still there,
 * and applying is idempotent for the rest. Items may be a stream; at most ENQUEUE_SLICE_CHUNKS
 * chunks are held at a time.
 */
export async function enqueueChunks(
  queue: Queue,
  operationId: string,
  items: Iterable<unknown> | AsyncIterable<unknown>,
  chunksTotal: number,
  attempts: number,
  onEnqueued: (items: number) => void = () => {},
): Promise<void> {
  const options = chunkJobOptions(attempts);
  const perJob = chunksPerJob(chunksTotal);
  const add = async (jobs: PlannedChunk<unknown>[]) => {
    await queue.addBulk(
      jobs.map((job) => ({
        name: JOBS.chunk,
        data: { operationId, ...job } satisfies ChunkJob,
        opts: { ...options, jobId: chunkJobId(operationId, job.chunkIndex, perJob) },
      })),
    );
    onEnqueued(jobs.reduce((n, c) => n + c.items.length, 0));
  };
  const fullSlice = Math.max(1, Math.floor(ENQUEUE_SLICE_CHUNKS / perJob));
  let pending: PlannedChunk<unknown>[] = [];
  let slice = Math.min(FIRST_SLICE_JOBS, fullSlice);
  let count = 0;
  for await (const job of planChunkJobs(items, CHUNK_SIZE, perJob)) {
    pending.push(job);
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
