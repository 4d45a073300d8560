import type { FastifyInstance } from 'fastify';
import type { ServiceMetrics } from '../metrics/service-metrics.js';
import { atLeast } from './log-level.js';

/** Prometheus scrape endpoint. */
export function registerMetricsRoute(app: FastifyInstance, metrics: Pick<ServiceMetrics, 'registry' | 'render'>): void {
  // Scraped every few seconds: request lines would drown the service's own.
  app.get('/metrics', { logLevel: atLeast(app.log.level, 'warn') }, async (_request, reply) => {
    const body = await metrics.render();
    return reply.type(metrics.registry.contentType).send(body);
  });
}
