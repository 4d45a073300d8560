import type { Job, Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { chunkJobId, chunkJobIds, chunksOfJob, chunksPerJob } from '../domain/chunk-plan.js';
import {
  cancelOperation,
  failedChunkIndexes,
  findOperation,
  reopenFailedChunks,
} from '../operations/operation-records.js';
import type { Database, OperationRow } from '../db/schema.js';
import { CHUNK_SIZE, type ChunkJob } from '../contract/index.js';
import type { CompletionNotifier } from '../workers/completion-events.js';

export interface OperationControlDeps {
  db: Kysely<Database>;
  chunkQueue: () => Promise<Queue>;
  notifyFinished: CompletionNotifier;
}

export type CancelResult =
  | { result: 'cancelled'; operation: OperationRow }
  | { result: 'already_final'; operation: OperationRow }
  | { result: 'not_found' };

const REMOVE_SLICE = 500;

/**
 * Cancels an unfinished operation: chunks not yet applied are dropped (removed from the queue
 * where they still wait, skipped by the worker otherwise); chunks already applied stay recorded.
 */
export async function cancel(deps: OperationControlDeps, operationId: string): Promise<CancelResult> {
  const operation = await cancelOperation(deps.db, operationId);
  if (!operation) return { result: 'not_found' };
  if (operation.status !== 'cancelled') return { result: 'already_final', operation };
  const queue = await deps.chunkQueue();
  const jobIds = chunkJobIds(operationId, operation.chunks_total ?? 0);
  for (let start = 0; start < jobIds.length; start += REMOVE_SLICE) {
    // A job being processed right now is locked and stays: the worker finds the operation cancelled.
    await Promise.all(jobIds.slice(start, start + REMOVE_SLICE).map((id) => queue.remove(id)));
  }
  await deps.notifyFinished(operationId);
  return { result: 'cancelled', operation };
}

export type RetryResult =
  | { result: 'retrying'; chunks: number[] }
  | { result: 'not_failed'; operation: OperationRow }
  | { result: 'chunk_data_expired'; chunks: number[] }
  | { result: 'not_found' };

const carries = (job: Job | undefined, index: number): job is Job =>
  job !== undefined && chunksOfJob(job.data as ChunkJob, CHUNK_SIZE).some((c) => c.chunkIndex === index);

/**
 * The job that carries a chunk. One enqueued before chunks were grouped into jobs carries it
 * alone, and may hold the id of the group its chunk would now belong to.
 */
async function jobOfChunk(queue: Queue, operationId: string, index: number, perJob: number) {
  const job = await queue.getJob(chunkJobId(operationId, index, perJob));
  if (carries(job, index) || perJob === 1) return job;
  const alone = await queue.getJob(chunkJobId(operationId, index, 1));
  return carries(alone, index) ? alone : undefined;
}

/**
 * Retries only the failed chunks of a failed operation. A chunk's items live in its BullMQ job,
 * which is kept for 7 days after it fails; past that the chunk cannot be retried. The job runs
 * again whole: its chunks that were applied find themselves recorded and are skipped.
 */
export async function retryFailed(deps: OperationControlDeps, operationId: string): Promise<RetryResult> {
  const operation = await findOperation(deps.db, operationId);
  if (!operation) return { result: 'not_found' };
  const chunks = operation.status === 'failed' ? await failedChunkIndexes(deps.db, operationId) : [];
  if (chunks.length === 0) return { result: 'not_failed', operation };
  const queue = await deps.chunkQueue();
  const perJob = chunksPerJob(operation.chunks_total ?? 0);
  const found = await Promise.all(chunks.map((index) => jobOfChunk(queue, operationId, index, perJob)));
  const missing = chunks.filter((_, i) => !found[i]);
  if (missing.length > 0) return { result: 'chunk_data_expired', chunks: missing };
  // Chunks of one job share it: each job runs again once.
  const jobs = new Map((found as Job[]).map((job) => [job.id, job]));
  if (!(await reopenFailedChunks(deps.db, operationId, chunks))) {
    const now = await findOperation(deps.db, operationId);
    return { result: 'not_failed', operation: now ?? operation };
  }
  await Promise.all(
    [...jobs.values()].map((job) => job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })),
  );
  return { result: 'retrying', chunks };
}
