import { Counter, type Registry } from 'prom-client';
import { OPERATION_KINDS } from '../contract/index.js';

/** Counters fed by the reconciler of this process (`src/workers/reconciler.ts`). */
export function createReconcilerMetrics(registry: Registry) {
  const reenqueued = new Counter({
    name: 'benefits_chunks_reenqueued_total',
    help: 'Chunks the reconciler found missing from the queue and enqueued again from Postgres, by operation kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const deleted = new Counter({
    name: 'benefits_item_jobs_deleted_total',
    help: 'Chunk jobs whose stored items were deleted past ITEM_RETENTION_DAYS',
    registers: [registry],
  });
  // Known series start at zero: an alert on increase() sees the first re-enqueue.
  for (const kind of OPERATION_KINDS) reenqueued.labels(kind).inc(0);
  return {
    recordReenqueued: (kind: string, chunks: number) => reenqueued.labels(kind).inc(chunks),
    recordItemsDeleted: (jobs: number) => deleted.inc(jobs),
  };
}
