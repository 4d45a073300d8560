import type { JobsOptions } from 'bullmq';

/**
 * Chunks are cheap to retry (they are idempotent) but must not pile up in Redis once done: the
 * last 100 completed jobs (up to 100,000 items) stay an hour, for the dashboard.
 */
export function chunkJobOptions(attempts: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: 500 },
    removeOnComplete: { age: 3_600, count: 100 },
    removeOnFail: { age: 7 * 24 * 3_600 },
  };
}

export const operationJobOptions: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 3_600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3_600 },
};
