import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import { toValidationIssues } from '../domain/validation.js';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { OperationControlDeps } from '../control/operation-control.js';
import type { PublisherDeps } from '../producers/publisher.js';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import { registerCouponRoutes } from './coupons.routes.js';
import { type DashboardOptions, registerDashboard } from './dashboard.js';
import { registerEnterpriseRoutes } from './enterprises.routes.js';
import { registerHealthRoutes, type ReadinessCheck } from './health.routes.js';
import { registerMetricsRoute } from './metrics.routes.js';
import { registerOperationRoutes } from './operations.routes.js';
import { registerPackageRoutes } from './packages.routes.js';
import { registerRootRoute } from './root.routes.js';

export interface AppDeps {
  db: Kysely<Database>;
  publisher: PublisherDeps;
  control: OperationControlDeps;
  readiness: Record<string, ReadinessCheck>;
  bodyLimitBytes: number;
  logger: Logger;
  /** Serves GET /metrics when given. */
  metrics?: Pick<ServiceMetrics, 'registry' | 'render'>;
  /** Serves Bull Board at /dashboard when given. */
  dashboard?: DashboardOptions;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
  });
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    if (error instanceof ZodError) {
      return reply.code(400).send({ error: 'invalid_request', issues: toValidationIssues(error) });
    }
    if (error.statusCode === 413) {
      return reply
        .code(413)
        .send({ error: 'payload_too_large', message: `request body exceeds ${deps.bodyLimitBytes} bytes` });
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: 'bad_request', message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal_error' });
  });
  registerRootRoute(app);
  registerHealthRoutes(app, deps.readiness);
  registerOperationRoutes(app, deps);
  registerEnterpriseRoutes(app, deps);
  registerCouponRoutes(app, deps);
  registerPackageRoutes(app, deps);
  if (deps.metrics) registerMetricsRoute(app, deps.metrics);
  if (deps.dashboard) await registerDashboard(app, deps.dashboard);
  return app;
}
