import type { Queue } from 'bullmq';
import { Gauge, type Registry } from 'prom-client';

/**
 * Jobs in every queue of the service by state, and whether it is paused (from the dashboard,
 * when it is writable), from BullMQ at scrape. Returns the refresh to run before rendering.
 */
export function createQueueDepthGauge(registry: Registry, queues: readonly Queue[]): () => Promise<void> {
  const jobs = new Gauge({
    name: 'benefits_queue_jobs',
    help: 'Jobs in each BullMQ queue of the service, by state',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
  });
  const paused = new Gauge({
    name: 'benefits_queue_paused',
    help: '1 when the queue is paused: its waiting jobs are not handed to workers',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  return async () => {
    // Cleared first: when the queue store does not answer, the scrape shows no values rather than old ones.
    jobs.reset();
    paused.reset();
    const states = await Promise.all(
      queues.map(async (queue) => ({
        queue: queue.name,
        counts: await queue.getJobCounts(),
        paused: await queue.isPaused(),
      })),
    );
    for (const { queue, counts, paused: isPaused } of states) {
      for (const [state, n] of Object.entries(counts)) jobs.labels(queue, state).set(n);
      paused.labels(queue).set(isPaused ? 1 : 0);
    }
  };
}
