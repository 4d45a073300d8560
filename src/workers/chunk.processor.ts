import { type Job, UnrecoverableError } from 'bullmq';
import type { Kysely } from 'kysely';
import { countByReason } from '../domain/operations/item-outcome.js';
import { isFinal } from '../domain/operations/operation-status.js';
import { parseOrThrow } from '../domain/operations/validation.js';
import { runChunkTransaction } from '../db/chunk-transaction.js';
import { recordChunkFailed, settleStatus } from '../db/operations.repository.js';
import type { Database } from '../db/schema.js';
import { InvalidPayloadError, UnknownOperationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { chunkJobSchema, type OperationKind, type OperationStatus } from '../producers/contract.js';
import type { ChunkApplier } from './appliers/chunk-applier.js';
import { applyAssociate, applyDissociate, applySharingSet } from './appliers/member-chunk.applier.js';
import { applySetDefault } from './appliers/set-default.applier.js';
import { applyCouponAllocate, applyCouponIssue, applyCouponRevoke } from './appliers/coupon.appliers.js';
import { createOperationCache } from './operation-cache.js';

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
  const operationIdentity = createOperationCache(deps.db);
  return async (job: Job<unknown>): Promise<ChunkJobResult> => {
    let chunk;
    try {
      chunk = parseOrThrow(chunkJobSchema, job.data);
    } catch (error) {
      if (error instanceof InvalidPayloadError) throw new UnrecoverableError(error.message);
      throw error;
    }
    // Built when something is logged: most chunks log nothing at the default level.
    let child: Logger | undefined;
    const log = () =>
      (child ??= deps.logger.child({
        operationId: chunk.operationId,
        chunkIndex: chunk.chunkIndex,
        jobId: job.id,
        attempt: job.attemptsMade + 1,
      }));
    const started = performance.now();
    try {
      const operation = await operationIdentity(chunk.operationId);
      if (!operation) throw new UnrecoverableError(new UnknownOperationError(chunk.operationId).message);
      const applier = appliers[operation.kind as OperationKind];
      if (!applier)
        throw new UnrecoverableError(`operation ${operation.operation_id} has unknown kind ${operation.kind}`);
      const ref = { operationId: chunk.operationId, chunkIndex: chunk.chunkIndex };
      const run = await runChunkTransaction(deps.db, ref, applier(operation, chunk));
      let result: ChunkJobResult;
      let status: OperationStatus | null;
      if (run.claimed) {
        const { counts, rejections } = run.applied;
        result = { outcome: 'applied', counts: { ...counts }, rejectedByReason: countByReason(rejections) };
        status = run.progress && (await settleStatus(deps.db, chunk.operationId, run.progress));
      } else {
        // Chunks of a cancelled operation are dropped; one claimed just before the cancel commits and stays recorded.
        result = { outcome: run.claim.operationStatus === 'cancelled' ? 'cancelled' : 'already_applied' };
        // The worker that applied it may have died between its commit and settling the operation.
        status = await settleStatus(deps.db, chunk.operationId);
      }
      const durationMs = performance.now() - started;
      if (deps.logger.isLevelEnabled('debug')) log().debug({ result, status, durationMs }, 'chunk processed');
      deps.onChunkDone?.({ kind: operation.kind, durationMs, result });
      // A redelivered chunk of a finished operation announces it again, in case the worker that
      // finished it died before it could: the event's job id makes the repeat a no-op. A cancel
      // announces itself; its dropped chunks do not.
      if (status !== null && isFinal(status) && result.outcome !== 'cancelled') {
        if (result.outcome === 'applied') log().info({ status }, 'operation finished');
        await deps.onOperationFinished?.(chunk.operationId);
      }
      return result;
    } catch (caught) {
      // A chunk or stored parameters that fail their schema will fail every time: no retries.
      const error = caught instanceof InvalidPayloadError ? new UnrecoverableError(caught.message) : caught;
      const last = isLastAttempt(job, error);
      log().warn({ err: error, lastAttempt: last }, 'chunk failed');
      if (last) {
        const status = await recordChunkFailed(deps.db, chunk.operationId, chunk.chunkIndex, String(error));
        if (status !== null && isFinal(status)) {
          log().error({ status }, 'operation finished with a failed chunk');
          await deps.onOperationFinished?.(chunk.operationId);
        }
      }
      throw error;
    }
  };
}
