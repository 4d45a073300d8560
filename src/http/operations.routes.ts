import type { FastifyInstance, FastifyRequest } from 'fastify';
import { findOperation } from '../operations/operation-records.js';
import { IdempotencyConflictError, InvalidPayloadError } from '../errors.js';
import { cancel, retryFailed } from '../control/operation-control.js';
import { publish } from '../producers/publisher.js';
import { QueueUnavailableError } from '../queue/connections.js';
import { mayActFor } from '../auth/principal.js';
import { recordControl, recordPublisher } from '../auth/operation-audit.sql.js';
import type { OperationRow } from '../db/schema.js';
import type { AppDeps } from './app.js';
import { readVisible } from './visible.js';
import { parseQuery } from './query.js';
import { listArrearsRisk, listRejections, viewOf } from '../read/operations.read.js';
import { notFound, principalOf } from './api-auth.js';
import { idCursorQuery, operationParams } from './id-params.js';
import { memberIdSchema } from '../contract/index.js';
import { positionCursorQuerySchema } from './pagination.js';

// Listed by member id: the cursor is the last id of the previous page.
const memberCursorQuery = idCursorQuery(memberIdSchema);

const enterpriseOfBody = (body: unknown): unknown =>
  body !== null && typeof body === 'object' ? (body as { enterpriseId?: unknown }).enterpriseId : undefined;

export function registerOperationRoutes(app: FastifyInstance, deps: AppDeps): void {
  /** The operation named by the path, when the caller's key may see it; as if missing otherwise. */
  const visibleOperation = (request: FastifyRequest): Promise<OperationRow | undefined> =>
    readVisible(deps.db, request, {
      kind: 'operation',
      id: operationParams.parse(request.params).operationId,
      read: (id) => findOperation(deps.db, id),
      enterpriseOf: (row) => row.enterprise_id,
    });

  app.post('/v1/operations', { config: { scope: 'operations:write' } }, async (request, reply) => {
    const principal = principalOf(request);
    // Another enterprise's key gets what any request for a thing it cannot see gets: 404.
    const enterpriseId = enterpriseOfBody(request.body);
    if (typeof enterpriseId === 'string' && !mayActFor(principal, enterpriseId)) return notFound(reply);
    try {
      const result = await publish(deps.publisher, request.body, { source: 'http' });
      await recordPublisher(deps.db, result.operationId, principal.keyId);
      if (result.created) return reply.code(202).send({ operationId: result.operationId, status: result.status });
      return reply.code(200).send(await viewOf(deps.db, result.operation));
    } catch (error) {
      if (error instanceof InvalidPayloadError) {
        return reply.code(400).send({ error: error.code, issues: error.issues, issueCount: error.issueCount });
      }
      if (error instanceof IdempotencyConflictError) {
        return reply.code(409).send({ error: error.code, operationId: error.operationId, message: error.message });
      }
      if (error instanceof QueueUnavailableError) {
        return reply.code(503).send({ error: error.code, message: error.message });
      }
      throw error;
    }
  });

  app.get('/v1/operations/:operationId', { config: { scope: 'read' } }, async (request, reply) => {
    const row = await visibleOperation(request);
    return row ? viewOf(deps.db, row) : notFound(reply);
  });

  app.post(
    '/v1/operations/:operationId/cancel',
    { config: { scope: 'operations:control' } },
    async (request, reply) => {
      const row = await visibleOperation(request);
      if (!row) return notFound(reply);
      const outcome = await cancel(deps.control, row.operation_id);
      if (outcome.result === 'not_found') return notFound(reply);
      if (outcome.result === 'already_final') {
        return reply.code(409).send({ error: 'already_final', status: outcome.operation.status });
      }
      const keyId = principalOf(request).keyId;
      await recordControl(deps.db, row.operation_id, 'cancel', keyId);
      request.log.info({ operationId: row.operation_id, keyId }, 'operation cancelled');
      const now = await findOperation(deps.db, row.operation_id);
      return now ? viewOf(deps.db, now) : notFound(reply);
    },
  );

  app.post('/v1/operations/:operationId/retry', { config: { scope: 'operations:control' } }, async (request, reply) => {
    const row = await visibleOperation(request);
    if (!row) return notFound(reply);
    const operationId = row.operation_id;
    const outcome = await retryFailed(deps.control, operationId);
    switch (outcome.result) {
      case 'not_found':
        return notFound(reply);
      case 'not_failed':
        return reply.code(409).send({ error: 'not_failed', status: outcome.operation.status });
      case 'items_not_stored':
        return reply.code(409).send({ error: 'items_not_stored', chunks: outcome.chunks });
      case 'retrying': {
        const keyId = principalOf(request).keyId;
        await recordControl(deps.db, operationId, 'retry', keyId);
        request.log.info({ operationId, keyId, chunks: outcome.chunks.length }, 'operation retried');
        return reply.code(202).send({ operationId, status: 'running', retriedChunks: outcome.chunks });
      }
    }
  });

  app.get('/v1/operations/:operationId/rejections', { config: { scope: 'read' } }, async (request, reply) => {
    const row = await visibleOperation(request);
    const query = parseQuery(positionCursorQuerySchema, request);
    if (!row) return notFound(reply);
    return listRejections(deps.db, row.operation_id, query.cursor ?? -1);
  });

  // The members a `sharing.set` disabled that may fall into arrears: whom the publisher should warn.
  app.get('/v1/operations/:operationId/arrears-risk', { config: { scope: 'read' } }, async (request, reply) => {
    const row = await visibleOperation(request);
    const query = parseQuery(memberCursorQuery, request);
    if (!row) return notFound(reply);
    return listArrearsRisk(deps.db, row.operation_id, query.cursor ?? null);
  });
}
