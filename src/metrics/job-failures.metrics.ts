import { UnrecoverableError, type Job, type Worker } from 'bullmq';
import { Counter, type Registry } from 'prom-client';

/**
 * Failed job attempts on this process's workers, by queue and whether the job gave up for good
 * (attempts exhausted or a permanent error) or will be retried.
 */
export function createJobFailureMetrics(registry: Registry): (workers: readonly Worker[]) => void {
  const failures = new Counter({
    name: 'benefits_jobs_failed_total',
    help: 'Failed job attempts on this process, by queue and final (true: no retry left)',
    labelNames: ['queue', 'final'] as const,
    registers: [registry],
  });
  const isFinal = (job: Job, error: Error) =>
    error instanceof UnrecoverableError ||
    error.name === 'UnrecoverableError' ||
    job.attemptsMade >= (job.opts.attempts ?? 1);
  return (workers) => {
    for (const worker of workers) {
      for (const final of ['true', 'false']) failures.labels(worker.name, final).inc(0);
      worker.on('failed', (job, error) => {
        // No job: a stalled job that reached the stall limit and was removed at once. Gone for good.
        const final = job ? String(isFinal(job, error)) : 'true';
        failures.labels(worker.name, final).inc();
      });
    }
  };
}
