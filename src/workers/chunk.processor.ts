import { type Job, UnrecoverableError } from 'bullmq';
import type { Kysely } from 'kysely';
import { chunkJobId, chunksOfJob, chunksPerJob, type PlannedChunk } from '../domain/chunk-plan.js';
import { countByReason } from '../domain/outcomes.js';
import { isFinal } from '../domain/operation-status.js';
import { parseOrThrow } from '../domain/validation.js';
import { type ChunkTransactionResult, runChunkTransaction } from '../operations/chunk-transaction.js';
import type { ChunkWork } from '../operations/chunk-work.js';
import { loadItemRow } from '../operations/operation-items.sql.js';
import { recordChunkFailed, settleStatus } from '../operations/operation-records.js';
import type { Database } from '../db/schema.js';
import { InvalidPayloadError, UnknownOperationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { CHUNK_SIZE, type ChunkJob, chunkJobSchema, type OperationStatus } from '../contract/index.js';
import { kindSpec } from '../kinds/index.js';
import { type ApplySettings, DEFAULT_APPLY_SETTINGS, type OperationIdentity } from '../kinds/kind.js';
import { createOperationCache } from './operation-cache.js';
import { createChunkWaits, type Held } from './chunk-waits.js';
import type { FinishListener } from './finish-listener.js';

/** What became of one chunk of a job; a job returns one per chunk, in order. */
export type ChunkResult =
  | {
      outcome: 'applied';
      counts: Record<string, number>;
      /** This chunk's rejected items by reason (metrics); empty when none. */
      rejectedByReason: Record<string, number>;
    }
  | { outcome: 'already_applied' }
  | { outcome: 'cancelled' };

type ChunkLog = (chunk: PlannedChunk<unknown>) => Logger;

export interface ChunkProcessorDeps {
  db: Kysely<Database>;
  logger: Logger;
  onChunkDone?: (event: { kind: string; durationMs: number; result: ChunkResult }) => void;
  /** Called after an operation reached a final status (possibly more than once: consumers dedupe). */
  onOperationFinished?: (operationId: string) => Promise<void>;
  /** Moves a delayed chunk job out of its delay: an ordered operation's job hands over to the next. */
  promoteJob?: (jobId: string) => Promise<unknown>;
  /** Hears operations finish, so chunks waiting for them can wait in their slot (`chunk-waits.ts`). */
  finishListener?: FinishListener;
  /** How many jobs may wait in their slot at once (one fewer than the worker's concurrency). */
  inPlaceSlots?: number;
  applySettings?: ApplySettings;
}

function isLastAttempt(job: Job, error: unknown): boolean {
  return error instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

// A chunk or stored parameters that fail their schema will fail every time: no retries.
const unrecoverable = (error: unknown) =>
  error instanceof InvalidPayloadError ? new UnrecoverableError(error.message) : error;

/**
 * Applies one chunk job: each of its chunks in a Postgres transaction of its own, safe to run
 * twice. A chunk that fails does not stop the others; the job then fails, and its next attempt
 * skips the chunks that were applied. After the last attempt, the chunks still failing are
 * recorded as failed.
 */
export function createChunkProcessor(deps: ChunkProcessorDeps) {
  const operationIdentity = createOperationCache(deps.db);
  const waits = createChunkWaits({
    db: deps.db,
    listener: deps.finishListener,
    inPlaceSlots: deps.inPlaceSlots ?? 0,
  });

  async function identify(operationId: string): Promise<OperationIdentity> {
    const operation = await operationIdentity(operationId);
    if (!operation) throw new UnrecoverableError(new UnknownOperationError(operationId).message);
    return operation;
  }

  function workFor(operation: OperationIdentity, chunk: PlannedChunk<unknown>): ChunkWork {
    const spec = kindSpec(operation.kind);
    if (!spec) throw new UnrecoverableError(`operation ${operation.operation_id} has unknown kind ${operation.kind}`);
    return spec.apply(operation, chunk, deps.applySettings ?? DEFAULT_APPLY_SETTINGS);
  }

  /**
   * Applies the chunk, unless what publication order puts before it is unfinished and does not
   * finish while the chunk waits in its slot: then what it waits for.
   */
  async function applyChunk(
    operation: OperationIdentity,
    chunk: PlannedChunk<unknown>,
    previousChunk: number | null,
    log: ChunkLog,
  ): Promise<ChunkResult | Held> {
    const work = workFor(operation, chunk);
    const started = performance.now();
    const operationId = operation.operation_id;
    let run: ChunkTransactionResult;
    for (;;) {
      const gate = waits.gateFor(operation, chunk, previousChunk);
      run = await runChunkTransaction(deps.db, { operationId, chunkIndex: chunk.chunkIndex }, work, gate ?? undefined);
      if (!('held' in run)) break;
      const held = gate!.held();
      if (!(await waits.waitInPlace(held))) return held;
    }
    let result: ChunkResult;
    let status: OperationStatus | null;
    if (run.claimed) {
      const { counts, rejections } = run.applied;
      result = { outcome: 'applied', counts: { ...counts }, rejectedByReason: countByReason(rejections) };
      status = run.progress && (await settleStatus(deps.db, operationId, run.progress));
    } else {
      // Chunks of a cancelled operation are dropped; one claimed just before the cancel commits and stays recorded.
      result = { outcome: run.claim.operationStatus === 'cancelled' ? 'cancelled' : 'already_applied' };
      // The worker that applied it may have died between its commit and settling the operation.
      status = await settleStatus(deps.db, operationId);
    }
    const durationMs = performance.now() - started;
    if (deps.logger.isLevelEnabled('debug')) log(chunk).debug({ result, status, durationMs }, 'chunk processed');
    deps.onChunkDone?.({ kind: operation.kind, durationMs, result });
    // A redelivered chunk of a finished operation announces it again, in case the worker that
    // finished it died before it could: the event's job id makes the repeat a no-op. A cancel
    // announces itself; its dropped chunks do not.
    if (status !== null && isFinal(status) && result.outcome !== 'cancelled') {
      if (result.outcome === 'applied') log(chunk).info({ status }, 'operation finished');
      await deps.onOperationFinished?.(operationId);
    }
    return result;
  }

  /** Moves the next job of an ordered operation out of the delay it was enqueued with. */
  async function handOver(operation: OperationIdentity, nextChunk: number): Promise<void> {
    if (!deps.promoteJob || operation.chunks_total === null || nextChunk >= operation.chunks_total) return;
    await deps.promoteJob(chunkJobId(operation.operation_id, nextChunk, chunksPerJob(operation.chunks_total)));
  }

  async function recordFailed(job: ChunkJob, chunk: PlannedChunk<unknown>, error: unknown, log: ChunkLog) {
    const status = await recordChunkFailed(deps.db, job.operationId, chunk.chunkIndex, String(error));
    if (status !== null && isFinal(status)) {
      log(chunk).error({ status }, 'operation finished with a failed chunk');
      await deps.onOperationFinished?.(job.operationId);
    }
  }

  /** The job's items: carried by the job, or read from Postgres for a job that names its range only. */
  async function jobItems(data: ChunkJob): Promise<PlannedChunk<unknown>> {
    if (data.items !== undefined && data.offset !== undefined)
      return { chunkIndex: data.chunkIndex, offset: data.offset, items: data.items, repeats: data.repeats };
    const stored = await loadItemRow(deps.db, data.operationId, data.chunkIndex);
    if (!stored)
      throw new UnrecoverableError(
        `the items of chunk ${data.chunkIndex} of operation ${data.operationId} are not stored (published before items were kept, or past ITEM_RETENTION_DAYS)`,
      );
    return stored;
  }

  return async (job: Job<unknown>, token?: string): Promise<ChunkResult[]> => {
    let data: ChunkJob;
    try {
      data = parseOrThrow(chunkJobSchema, job.data);
    } catch (error) {
      throw unrecoverable(error);
    }
    // Built when something is logged: most chunks log nothing at the default level.
    const log: ChunkLog = (chunk) =>
      deps.logger.child({
        operationId: data.operationId,
        chunkIndex: chunk.chunkIndex,
        jobId: job.id,
        attempt: job.attemptsMade + 1,
      });
    const chunks = chunksOfJob(await jobItems(data), CHUNK_SIZE);
    const results: ChunkResult[] = [];
    const failures: { chunk: PlannedChunk<unknown>; error: unknown }[] = [];
    let operation: OperationIdentity | undefined;
    try {
      operation = await identify(data.operationId);
    } catch (error) {
      for (const chunk of chunks) failures.push({ chunk, error: unrecoverable(error) });
    }
    let held: Held | null = null;
    const ordered = operation !== undefined && kindSpec(operation.kind)?.ordered === true;
    if (operation) {
      for (const [i, chunk] of chunks.entries()) {
        try {
          // A job's chunks run in order: only its first can find the chunk before it unapplied.
          const previous = ordered && i === 0 && chunk.chunkIndex > 0 ? chunk.chunkIndex - 1 : null;
          const result = await applyChunk(operation, chunk, previous, log);
          if ('waitingFor' in result) {
            held = result;
            break;
          }
          results.push(result);
        } catch (error) {
          const failure = unrecoverable(error);
          failures.push({ chunk, error: failure });
          if (ordered) {
            // The chunks after it must not apply before it does: they fail with it, as finally as it.
            const message = `chunk ${chunk.chunkIndex} before it failed: ${String(error)}`;
            const after = failure instanceof UnrecoverableError ? new UnrecoverableError(message) : new Error(message);
            for (const rest of chunks.slice(i + 1)) failures.push({ chunk: rest, error: after });
            break;
          }
        }
      }
    }
    if (failures.length === 0 && held !== null) return waits.park(job, token, data.operationId, held);
    if (failures.length === 0) {
      if (ordered) await handOver(operation!, chunks.at(-1)!.chunkIndex + 1);
      return results;
    }
    // Retried while any failure can pass on another attempt; then every failed chunk gives up.
    const retryable = failures.find((f) => !isLastAttempt(job, f.error));
    for (const { chunk, error } of failures) log(chunk).warn({ err: error, lastAttempt: !retryable }, 'chunk failed');
    if (retryable) throw retryable.error;
    for (const { chunk, error } of failures) await recordFailed(data, chunk, error, log);
    // Given up, the job's chunks no longer stand in the way of the next job's.
    if (ordered) await handOver(operation!, chunks.at(-1)!.chunkIndex + 1);
    throw failures[0]!.error;
  };
}
