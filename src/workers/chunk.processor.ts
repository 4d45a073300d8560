import { type Job, UnrecoverableError } from 'bullmq';
import type { Kysely } from 'kysely';
import { isFinal } from '../domain/operations/operation-status.js';
import { parseOrThrow } from '../domain/operations/validation.js';
import {
  claimChunk,
  countChunkRejections,
  findOperation,
  recordChunkApplied,
  recordChunkFailed,
} from '../db/operations.repository.js';
import type { Database } from '../db/schema.js';
import { InvalidPayloadError, UnknownOperationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { chunkJobSchema, type OperationKind, type OperationStatus } from '../producers/contract.js';
import type { ChunkApplier } from './appliers/chunk-applier.js';
import { applyAssociate, applyDissociate, applySharingSet } from './appliers/member-chunk.applier.js';
import { applySetDefault } from './appliers/set-default.applier.js';
import { applyCouponAllocate, applyCouponIssue, applyCouponRevoke } from './appliers/coupon.appliers.js';

const appliers: Record<OperationKind, ChunkApplier> = {
  'members.associate': applyAssociate,
  'members.dissociate': applyDissociate,
  'sharing.set-default': applySetDefault,
  'sharing.set': applySharingSet,
  'coupons.issue': applyCouponIssue,
  'coupons.allocate': applyCouponAllocate,
  'coupons.revoke': applyCouponRevoke,
};

export type ChunkJobResult =
  | {
      outcome: 'applied';
      status: OperationStatus;
      counts: Record<string, number>;
      /** This chunk's rejected items by reason (metrics); empty when none. */
      rejectedByReason: Record<string, number>;
    }
  | { outcome: 'already_applied' }
  | { outcome: 'cancelled' };

export interface ChunkProcessorDeps {
  db: Kysely<Database>;
  logger: Logger;
  onChunkDone?: (event: { kind: string; durationMs: number; result: ChunkJobResult }) => void;
  /** Called after an operation reached a final status (possibly more than once: consumers dedupe). */
  onOperationFinished?: (operationId: string) => Promise<void>;
}

function isLastAttempt(job: Job, error: unknown): boolean {
  return error instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/** Applies one chunk job: one Postgres transaction, safe to run twice. */
export function createChunkProcessor(deps: ChunkProcessorDeps) {
  return async (job: Job<unknown>): Promise<ChunkJobResult> => {
    let chunk;
    try {
      chunk = parseOrThrow(chunkJobSchema, job.data);
    } catch (error) {
      if (error instanceof InvalidPayloadError) throw new UnrecoverableError(error.message);
      throw error;
    }
    const log = deps.logger.child({
      operationId: chunk.operationId,
      chunkIndex: chunk.chunkIndex,
      jobId: job.id,
      attempt: job.attemptsMade + 1,
    });
    const started = performance.now();
    try {
      const operation = await findOperation(deps.db, chunk.operationId);
      if (!operation) throw new UnrecoverableError(new UnknownOperationError(chunk.operationId).message);
      const applier = appliers[operation.kind as OperationKind];
      if (!applier) throw new UnrecoverableError(`operation ${operation.operation_id} has unknown kind ${operation.kind}`);
      // Chunks of a cancelled operation are dropped; one that slips past this check commits and stays recorded.
      if (operation.status === 'cancelled') return { outcome: 'cancelled' };
      const result = await deps.db.transaction().execute(async (tx): Promise<ChunkJobResult> => {
        if (!(await claimChunk(tx, chunk.operationId, chunk.chunkIndex))) return { outcome: 'already_applied' };
        const { itemCount, counts } = await applier(tx, operation, chunk);
        const status = await recordChunkApplied(tx, chunk.operationId, chunk.chunkIndex, itemCount, counts);
        // Read back only when there are rejections, so a clean chunk pays no extra query.
        const rejectedByReason =
          counts.rejected > 0 ? await countChunkRejections(tx, chunk.operationId, chunk.offset, itemCount) : {};
        return { outcome: 'applied', status, counts: { ...counts }, rejectedByReason };
      });
      const durationMs = performance.now() - started;
      log.debug({ result, durationMs }, 'chunk processed');
      if (result.outcome === 'applied' && result.status !== 'running') {
        log.info({ status: result.status }, 'operation finished');
      }
      deps.onChunkDone?.({ kind: operation.kind, durationMs, result });
      // A redelivered chunk of a finished operation announces it again, in case the worker that
      // finished it died before it could: the event's job id makes the repeat a no-op.
      const finished = result.outcome === 'applied' ? result.status !== 'running' : isFinal(operation.status);
      if (finished) await deps.onOperationFinished?.(chunk.operationId);
      return result;
    } catch (caught) {
      // A chunk or stored parameters that fail their schema will fail every time: no retries.
      const error = caught instanceof InvalidPayloadError ? new UnrecoverableError(caught.message) : caught;
      const last = isLastAttempt(job, error);
      log.warn({ err: error, lastAttempt: last }, 'chunk failed');
      if (last) {
        const status = await recordChunkFailed(deps.db, chunk.operationId, chunk.chunkIndex, String(error));
        if (status && status !== 'running') {
          log.error({ status }, 'operation finished with a failed chunk');
          await deps.onOperationFinished?.(chunk.operationId);
        }
      }
      throw error;
    }
  };
}
