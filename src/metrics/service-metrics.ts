import type { Queue, Worker } from 'bullmq';
import type { Kysely } from 'kysely';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { QUEUES } from '../contract/index.js';
import { type ChunkDoneEvent, createChunkMetrics } from './chunk.metrics.js';
import { createJobFailureMetrics } from './job-failures.metrics.js';
import { createSourceReader } from './metric-sources.js';
import { createReconcilerMetrics } from './reconciler.metrics.js';
import { createOperationsGauge } from './operations.metrics.js';
import { createQueueDepthGauge } from './queue-depth.metrics.js';

export interface ServiceMetrics {
  /** This service's own registry: several services in one process (tests) never share metrics. */
  registry: Registry;
  /** The chunk processor's `onChunkDone` hook. */
  recordChunk(event: ChunkDoneEvent): void;
  /** The reconciler's hooks: chunks enqueued again from Postgres, stored items deleted. */
  recordReenqueued(kind: string, chunks: number): void;
  recordItemsDeleted(jobs: number): void;
  /** Counts failed attempts of these workers' jobs. */
  observeWorkers(workers: readonly Worker[]): void;
  /** Reads the scrape-time gauges (Postgres, the queue store), then renders everything in Prometheus text. */
  render(): Promise<string>;
}

export interface ServiceMetricsDeps {
  db: Kysely<Database>;
  queues: Record<keyof typeof QUEUES, Queue>;
  logger: Logger;
  /** How long a scrape waits for Postgres or the queue store before leaving their gauges out. */
  sourceTimeoutMs?: number;
}

export function createServiceMetrics(deps: ServiceMetricsDeps): ServiceMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const read = createSourceReader(registry, deps.logger, deps.sourceTimeoutMs ?? 2_000);
  const refreshOperations = createOperationsGauge(registry, deps.db);
  const queues = (Object.keys(QUEUES) as Array<keyof typeof QUEUES>).map((key) => deps.queues[key]);
  const refreshQueueDepth = createQueueDepthGauge(registry, queues);
  return {
    registry,
    recordChunk: createChunkMetrics(registry),
    ...createReconcilerMetrics(registry),
    observeWorkers: createJobFailureMetrics(registry),
    async render() {
      await Promise.all([read('postgres', refreshOperations), read('queues', refreshQueueDepth)]);
      return registry.metrics();
    },
  };
}
