import type { Queue } from 'bullmq';
import { chunkJobId, planChunks, type PlannedChunk } from '../domain/operations/chunk-plan.js';
import { CHUNK_SIZE, type ChunkJob, JOBS } from './contract.js';
import { chunkJobOptions } from '../queue/job-options.js';

// Each addBulk is one pipelined round trip; this many jobs per trip keeps a single
// MULTI small while a million-member batch still enqueues in a few hundred trips.
const ENQUEUE_SLICE = 500;
// No job of a slice is visible to a worker before the whole slice is added, and building and adding
// 500 took about 50 ms: the first slices are small, so the workers start on a batch at once.
const FIRST_SLICE = 16;

/**
 * Puts one job per chunk on the chunk queue. Each job carries its own slice of the batch and
 * nothing more, so Redis holds the member list once. Job ids are deterministic: enqueueing the
 * same operation again adds nothing that is still there, and applying is idempotent for the rest.
 * Items may be a stream; at most ENQUEUE_SLICE chunks are held at a time.
 */
export async function enqueueChunks(
  queue: Queue,
  operationId: string,
  items: Iterable<unknown> | AsyncIterable<unknown>,
  attempts: number,
  onEnqueued: (items: number) => void = () => {},
): Promise<number> {
  const options = chunkJobOptions(attempts);
  const add = async (chunks: PlannedChunk<unknown>[]) => {
    await queue.addBulk(
      chunks.map((chunk) => ({
        name: JOBS.chunk,
        data: { operationId, ...chunk } satisfies ChunkJob,
        opts: { ...options, jobId: chunkJobId(operationId, chunk.chunkIndex) },
      })),
    );
    onEnqueued(chunks.reduce((n, c) => n + c.items.length, 0));
  };
  let pending: PlannedChunk<unknown>[] = [];
  let slice = FIRST_SLICE;
  let count = 0;
  for await (const chunk of planChunks(items, CHUNK_SIZE)) {
    pending.push(chunk);
    count += 1;
    if (pending.length === slice) {
      await add(pending);
      pending = [];
      slice = Math.min(slice * 4, ENQUEUE_SLICE);
    }
  }
  // An operation without items (the enterprise switch) is still one chunk of work.
  if (count === 0) pending.push({ chunkIndex: 0, offset: 0, items: [] });
  if (pending.length > 0) await add(pending);
  return Math.max(count, 1);
}
