import { type Job, UnrecoverableError } from 'bullmq';
import { payloadHash } from '../domain/payload-hash.js';
import { recordRejectedOperation } from '../operations/operation-records.js';
import { IdempotencyConflictError, InvalidPayloadError } from '../errors.js';
import type { Logger } from '../logger.js';
import { operationIdSchema } from '../contract/index.js';
import { publish, type PublisherDeps } from '../producers/publisher.js';
import type { CompletionNotifier } from './completion-events.js';

/** The id an operation from the raw queue goes by when its publisher did not choose one. */
export function operationIdForJob(job: Job): string {
  return storable(`job-${job.id}`);
}

// Postgres text cannot hold NUL, and jsonb refuses lone UTF-16 surrogates: the strings of a hostile
// payload are made storable before its rejection is recorded, or recording it would fail on every attempt.
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const storable = (text: string) => text.replace(UNSTORABLE, '\ufffd');

function field(data: unknown, name: string): unknown {
  return data !== null && typeof data === 'object' ? (data as Record<string, unknown>)[name] : undefined;
}

/**
 * Takes an operation published straight onto the queue by a foreign system: records it on first
 * sight and splits it into chunk jobs, exactly as the producer library does in-process.
 */
export function createOperationProcessor(
  deps: PublisherDeps & { logger: Logger; onOperationFinished?: CompletionNotifier },
) {
  return async (job: Job<unknown>) => {
    const given = operationIdSchema.safeParse(field(job.data, 'operationId'));
    const operationId = given.success ? given.data : operationIdForJob(job);
    const log = deps.logger.child({ operationId, jobId: job.id, attempt: job.attemptsMade + 1 });
    try {
      const result = await publish(deps, job.data, { source: 'queue', defaultOperationId: operationId });
      log.info({ created: result.created, status: result.status }, 'operation accepted from queue');
      return { operationId, created: result.created };
    } catch (error) {
      if (error instanceof InvalidPayloadError) {
        const kind = field(job.data, 'kind');
        const enterpriseId = field(job.data, 'enterpriseId');
        await recordRejectedOperation(
          deps.db,
          {
            operationId,
            kind: typeof kind === 'string' ? storable(kind.slice(0, 64)) : 'unknown',
            enterpriseId: typeof enterpriseId === 'string' ? storable(enterpriseId.slice(0, 128)) : null,
            payloadHash: payloadHash({ payload: JSON.stringify(job.data ?? null) }),
            source: 'queue',
          },
          error.issues.map((issue) => ({ path: storable(issue.path), message: storable(issue.message) })),
        );
        log.warn({ issues: error.issues }, 'operation rejected: invalid payload');
        await deps.onOperationFinished?.(operationId);
        throw new UnrecoverableError(error.message);
      }
      if (error instanceof IdempotencyConflictError) {
        log.warn('operation refused: idempotency conflict');
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
  };
}
