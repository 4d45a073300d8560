import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { toValidationIssues } from '../domain/validation.js';
import { findOperation } from '../operations/operation-records.js';
import { IdempotencyConflictError, InvalidPayloadError } from '../errors.js';
import { cancel, retryFailed } from '../control/operation-control.js';
import { publish } from '../producers/publisher.js';
import { QueueUnavailableError } from '../queue/connections.js';
import type { AppDeps } from './app.js';
import { listArrearsRisk, listRejections, loadOperationView, viewOf } from '../read/operations.read.js';
import { cursorQuerySchema } from './pagination.js';

const operationParams = z.object({ operationId: z.string().min(1).max(128) });
// Listed by member id: the cursor is the last id of the previous page.
const memberCursorQuery = z.object({ cursor: z.string().min(1).max(128).optional() });

export function registerOperationRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.post('/v1/operations', async (request, reply) => {
    try {
      const result = await publish(deps.publisher, request.body, { source: 'http' });
      if (result.created) return reply.code(202).send({ operationId: result.operationId, status: result.status });
      return reply.code(200).send(await viewOf(deps.db, result.operation));
    } catch (error) {
      if (error instanceof InvalidPayloadError) {
        return reply.code(400).send({ error: error.code, issues: error.issues });
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

  app.get('/v1/operations/:operationId', async (request, reply) => {
    const { operationId } = operationParams.parse(request.params);
    const view = await loadOperationView(deps.db, operationId);
    if (!view) return reply.code(404).send({ error: 'not_found' });
    return view;
  });

  app.post('/v1/operations/:operationId/cancel', async (request, reply) => {
    const { operationId } = operationParams.parse(request.params);
    const outcome = await cancel(deps.control, operationId);
    if (outcome.result === 'not_found') return reply.code(404).send({ error: 'not_found' });
    if (outcome.result === 'already_final') {
      return reply.code(409).send({ error: 'already_final', status: outcome.operation.status });
    }
    return loadOperationView(deps.db, operationId);
  });

  app.post('/v1/operations/:operationId/retry', async (request, reply) => {
    const { operationId } = operationParams.parse(request.params);
    const outcome = await retryFailed(deps.control, operationId);
    switch (outcome.result) {
      case 'not_found':
        return reply.code(404).send({ error: 'not_found' });
      case 'not_failed':
        return reply.code(409).send({ error: 'not_failed', status: outcome.operation.status });
      case 'retrying':
        return reply.code(202).send({ operationId, status: 'running', retriedChunks: outcome.chunks });
    }
  });

  app.get('/v1/operations/:operationId/rejections', async (request, reply) => {
    const { operationId } = operationParams.parse(request.params);
    const query = cursorQuerySchema.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    if (!(await findOperation(deps.db, operationId))) return reply.code(404).send({ error: 'not_found' });
    return listRejections(deps.db, operationId, query.data.cursor ?? -1);
  });

  // The members a `sharing.set` disabled that may fall into arrears: whom the publisher should warn.
  app.get('/v1/operations/:operationId/arrears-risk', async (request, reply) => {
    const { operationId } = operationParams.parse(request.params);
    const query = memberCursorQuery.safeParse(request.query);
    if (!query.success)
      return reply.code(400).send({ error: 'invalid_query', issues: toValidationIssues(query.error) });
    if (!(await findOperation(deps.db, operationId))) return reply.code(404).send({ error: 'not_found' });
    return listArrearsRisk(deps.db, operationId, query.data.cursor ?? null);
  });
}
