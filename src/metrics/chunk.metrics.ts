import { Counter, Histogram, type Registry } from 'prom-client';
import { OPERATION_KINDS } from '../contract/index.js';
import type { ChunkProcessorDeps } from '../workers/chunk.processor.js';

export type ChunkDoneEvent = Parameters<NonNullable<ChunkProcessorDeps['onChunkDone']>>[0];

const ITEM_OUTCOMES = ['applied', 'unchanged', 'superseded', 'rejected'] as const;

/**
 * Counters fed by the chunk processor's `onChunkDone` hook. Each process counts the chunks it
 * applied itself; Prometheus sums the processes. A redelivered chunk that finds itself already
 * applied counts as a chunk (`already_applied`) but not again as items.
 */
export function createChunkMetrics(registry: Registry): (event: ChunkDoneEvent) => void {
  const chunks = new Counter({
    name: 'benefits_chunks_processed_total',
    help: 'Chunks processed by this process, by operation kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'benefits_chunk_duration_seconds',
    help: 'Time to apply one chunk (load, transaction, commit), by operation kind',
    labelNames: ['kind'] as const,
    // Chunks of 100 items take milliseconds; the upper buckets catch lock waits and slow disks.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const items = new Counter({
    name: 'benefits_items_total',
    help: 'Items applied by this process, by operation kind and outcome',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'benefits_items_rejected_total',
    help: 'Items rejected by this process, by operation kind and reason',
    labelNames: ['kind', 'reason'] as const,
    registers: [registry],
  });
  // Known series start at zero, so rate() and alerts see the first increment.
  for (const kind of OPERATION_KINDS) {
    for (const outcome of ['applied', 'already_applied']) chunks.labels(kind, outcome).inc(0);
    for (const outcome of ITEM_OUTCOMES) items.labels(kind, outcome).inc(0);
  }

  return ({ kind, durationMs, result }) => {
    chunks.labels(kind, result.outcome).inc();
    if (result.outcome !== 'applied') return;
    duration.labels(kind).observe(durationMs / 1_000);
    for (const outcome of ITEM_OUTCOMES) items.labels(kind, outcome).inc(result.counts[outcome] ?? 0);
    for (const [reason, count] of Object.entries(result.rejectedByReason)) rejected.labels(kind, reason).inc(count);
  };
}
