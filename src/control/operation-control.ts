import type { Job, Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { chunkJobId, chunkJobIds, chunksPerJob } from '../domain/chunk-plan.js';
import { storedJobs } from '../operations/operation-items.sql.js';
import {
  cancelOperation,
  failedChunkIndexes,
  findOperation,
  reopenFailedChunks,
} from '../operations/operation-records.js';
import type { Database, OperationRow } from '../db/schema.js';
import { CHUNK_SIZE, type ChunkJob } from '../contract/index.js';
import { enqueueChunkJobs, rangeJob } from '../producers/chunk-enqueuer.js';
import type { CompletionNotifier } from '../workers/completion-events.js';

export interface OperationControlDeps {
  db: Kysely<Database>;
  chunkQueue: () => Promise<Queue>;
  /** The attempts of a chunk job enqueued again. */
  chunkAttempts: number;
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
  /** Published before items were stored in Postgres, and its failed jobs are gone from the queue. */
  | { result: 'items_not_stored'; chunks: number[] }
  | { result: 'not_found' };

/** Whether the job carries the chunk: it holds its range. */
function carries(job: Job | undefined, index: number): job is Job {
  if (!job) return false;
  const data = job.data as ChunkJob;
  const chunks = data.chunks ?? Math.max(1, Math.ceil((data.items?.length ?? 0) / CHUNK_SIZE));
  return index >= data.chunkIndex && index < data.chunkIndex + chunks;
}

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
 * Retries only the failed chunks of a failed operation, however long ago it failed. A job still
 * in the queue runs again whole: its chunks that were applied find themselves recorded and are
 * skipped. A job no longer there (failed jobs are removed after 7 days, or Redis lost them) is
 * enqueued again from the items stored in Postgres, whose retention keeps the jobs of failed chunks.
 */
export async function retryFailed(deps: OperationControlDeps, operationId: string): Promise<RetryResult> {
  const operation = await findOperation(deps.db, operationId);
  if (!operation) return { result: 'not_found' };
  const chunks = operation.status === 'failed' ? await failedChunkIndexes(deps.db, operationId) : [];
  if (chunks.length === 0) return { result: 'not_failed', operation };
  const queue = await deps.chunkQueue();
  const chunksTotal = operation.chunks_total ?? 0;
  const perJob = chunksPerJob(chunksTotal);
  const found = await Promise.all(chunks.map((index) => jobOfChunk(queue, operationId, index, perJob)));
  // Chunks of one job share it: each job runs again once.
  const jobs = new Map(found.filter((job) => job !== undefined).map((job) => [job.id, job]));
  const lost = new Set(chunks.filter((_, i) => !found[i]).map((index) => index - (index % perJob)));
  const stored = new Map((await storedJobs(deps.db, operationId)).map((job) => [job.chunkIndex, job]));
  const unstored = [...lost].filter((start) => !stored.has(start));
  if (unstored.length > 0) return { result: 'items_not_stored', chunks: unstored };
  if (!(await reopenFailedChunks(deps.db, operationId, chunks))) {
    const now = await findOperation(deps.db, operationId);
    return { result: 'not_failed', operation: now ?? operation };
  }
  await Promise.all(
    [...jobs.values()].map((job) => job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })),
  );
  // Every retried chunk runs at once; in an ordered operation the chunk before holds it back.
  const target = { operationId, kind: operation.kind, chunksTotal, ordered: false };
  const rebuilt = [...lost].map((start) => rangeJob(target, start, stored.get(start)!.itemCount));
  await enqueueChunkJobs(queue, target, rebuilt, { attempts: deps.chunkAttempts });
  return { result: 'retrying', chunks };
}
