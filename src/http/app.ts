import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import { toValidationIssues } from '../domain/validation.js';
import type { Kysely } from 'kysely';
import type { Authenticator } from '../auth/authenticator.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import type { OperationControlDeps } from '../control/operation-control.js';
import type { PublisherDeps } from '../producers/publisher.js';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import { registerApiAuth } from './api-auth.js';
import { registerCouponRoutes } from './coupons.routes.js';
import { type DashboardOptions, registerDashboard } from './dashboard.js';
import { registerEnterpriseRoutes } from './enterprises.routes.js';
import { registerHealthRoutes, type ReadinessCheck } from './health.routes.js';
import { registerMetricsRoute } from './metrics.routes.js';
import { registerOperationRoutes } from './operations.routes.js';
import { registerPackageRoutes } from './packages.routes.js';
import { refuseEncodedBodies } from './content-encoding.js';
import { InvalidQueryError } from './query.js';
import { registerRootRoute } from './root.routes.js';

export interface AppDeps {
  db: Kysely<Database>;
  publisher: PublisherDeps;
  control: OperationControlDeps;
  readiness: Record<string, ReadinessCheck>;
  bodyLimitBytes: number;
  logger: Logger;
  /** Checks API keys on /v1; null: `API_AUTH=off`, every caller may do everything. */
  authenticate: Authenticator | null;
  /** Requests a minute per key on /v1. */
  rateLimitPerMinute: number;
  /** Serves GET /metrics when given, behind `token` when that is set. */
  metrics?: { source: Pick<ServiceMetrics, 'registry' | 'render'>; token: string | null };
  /** Serves Bull Board at /dashboard when given. */
  dashboard?: DashboardOptions;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes,
    // Ids are up to 128 characters (src/contract/ids.ts): fastify's default of 100 refused the longest.
    routerOptions: { maxParamLength: 128 },
  });
  app.setErrorHandler((error: { statusCode?: number; code?: string; message: string }, request, reply) => {
    if (error instanceof InvalidQueryError) return reply.code(400).send({ error: error.code, issues: error.issues });
    if (error instanceof ZodError) {
      return reply.code(400).send({ error: 'invalid_request', issues: toValidationIssues(error) });
    }
    if (error.statusCode === 413) {
      return reply
        .code(413)
        .send({ error: 'payload_too_large', message: `request body exceeds ${deps.bodyLimitBytes} bytes` });
    }
    if (error.statusCode === 429) return reply.code(429).send({ error: 'rate_limited', message: error.message });
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: 'bad_request', message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal_error' });
  });
  // Hooks run in this order: the key first, then what the request carries.
  registerApiAuth(app, deps.authenticate);
  app.addHook('onRequest', refuseEncodedBodies);
  await app.register(rateLimit, {
    max: deps.rateLimitPerMinute,
    timeWindow: 60_000,
    // Per key: one client's burst does not slow another's. Health, metrics and the board are not limited.
    keyGenerator: (request) => request.principal?.keyId ?? request.ip,
    allowList: (request) => request.routeOptions.config.scope === undefined,
  });
  registerRootRoute(app, deps.dashboard !== undefined);
  registerHealthRoutes(app, deps.readiness);
  registerOperationRoutes(app, deps);
  registerEnterpriseRoutes(app, deps);
  registerCouponRoutes(app, deps);
  registerPackageRoutes(app, deps);
  if (deps.metrics) registerMetricsRoute(app, deps.metrics.source, deps.metrics.token);
  if (deps.dashboard) await registerDashboard(app, deps.dashboard);
  return app;
}
