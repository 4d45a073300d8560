import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from '../logger.js';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import { registerHealthRoutes, type ReadinessCheck } from './health.routes.js';
import { registerMetricsRoute } from './metrics.routes.js';

/**
 * What a worker-only process serves (`npm run worker` with `METRICS_PORT`): health for its
 * orchestrator and the chunk metrics only it can count. No API, no dashboard.
 */
export function buildOpsApp(deps: {
  readiness: Record<string, ReadinessCheck>;
  metrics: Pick<ServiceMetrics, 'registry' | 'render'>;
  metricsToken: string | null;
  logger: Logger;
}): FastifyInstance {
  const app: FastifyInstance = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger });
  registerHealthRoutes(app, deps.readiness);
  registerMetricsRoute(app, deps.metrics, deps.metricsToken);
  return app;
}
