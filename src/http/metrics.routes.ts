import type { FastifyInstance } from 'fastify';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import { bearerTokenHook } from './bearer-token.js';
import { atLeast } from './log-level.js';

/** Prometheus scrape endpoint; behind a bearer token when one is configured (METRICS_TOKEN). */
export function registerMetricsRoute(
  app: FastifyInstance,
  metrics: Pick<ServiceMetrics, 'registry' | 'render'>,
  token: string | null,
): void {
  app.get(
    '/metrics',
    // Scraped every few seconds: request lines would drown the service's own.
    { logLevel: atLeast(app.log.level, 'warn'), ...(token !== null && { onRequest: bearerTokenHook(token) }) },
    async (_request, reply) => {
      const body = await metrics.render();
      return reply.type(metrics.registry.contentType).send(body);
    },
  );
}
