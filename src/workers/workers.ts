import type { Worker } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { QUEUES } from '../contract/index.js';
import { promoteIfDelayed } from '../queue/promote.js';
import { createWorker, type QueueConnection, type ServiceQueues } from '../queue/queues.js';
import { createChunkProcessor, type ChunkProcessorDeps } from './chunk.processor.js';
import type { CompletionNotifier } from './completion-events.js';
import { createFinishListener, type FinishListener } from './finish-listener.js';
import { createOperationProcessor } from './operation.processor.js';
import { type Reconciler, type ReconcilerDeps, type ReconcilerSettings, startReconciler } from './reconciler.js';

export interface WorkerDeps {
  db: Kysely<Database>;
  /** For the connection that hears operations finish. */
  databaseUrl: string;
  connection: QueueConnection;
  queues: ServiceQueues;
  concurrency: number;
  chunkAttempts: number;
  logger: Logger;
  onChunkDone?: ChunkProcessorDeps['onChunkDone'];
  applySettings?: ChunkProcessorDeps['applySettings'];
  onOperationFinished?: CompletionNotifier;
  reconcile: ReconcilerSettings & Pick<ReconcilerDeps, 'onReenqueued' | 'onItemsDeleted'>;
}

export interface ServiceWorkers {
  operations: Worker;
  chunks: Worker;
  finishListener: FinishListener;
  reconciler: Reconciler;
}

export function startWorkers(deps: WorkerDeps): ServiceWorkers {
  const { connection, logger } = deps;
  const finishListener = createFinishListener(deps.databaseUrl, (error) =>
    logger.error({ err: error, component: 'finish-listener' }, 'connection error'),
  );
  const operations = createWorker(
    connection,
    QUEUES.operations,
    createOperationProcessor({
      db: deps.db,
      // The worker's own connection: it waits out a Redis outage rather than failing the job.
      chunkQueue: async () => deps.queues.chunks,
      chunkAttempts: deps.chunkAttempts,
      logger,
      onOperationFinished: deps.onOperationFinished,
    }),
    // Raw publishers may not set removeOnComplete: the whole batch must not linger in Redis.
    { concurrency: 2, removeOnComplete: { count: 100 }, removeOnFail: { age: 7 * 24 * 3_600 } },
  );
  const chunks = createWorker(
    connection,
    QUEUES.chunks,
    createChunkProcessor({
      db: deps.db,
      logger,
      onChunkDone: deps.onChunkDone,
      applySettings: deps.applySettings,
      onOperationFinished: deps.onOperationFinished,
      promoteJob: (jobId) => promoteIfDelayed(deps.queues.chunks, jobId),
      finishListener,
      // One slot is never taken by a wait: the work waited for always has a slot to run in.
      inPlaceSlots: deps.concurrency - 1,
    }),
    {
      concurrency: deps.concurrency,
      // Chunks take milliseconds: a dead worker's chunks should be picked up again within
      // half a minute. A chunk is idempotent, so redelivering one a few times is harmless.
      lockDuration: 20_000,
      stalledInterval: 10_000,
      maxStalledCount: 5,
    },
  );
  for (const worker of [operations, chunks]) {
    worker.on('error', (error) => logger.error({ err: error, queue: worker.name }, 'worker error'));
  }
  const reconciler = startReconciler({
    ...deps.reconcile,
    db: deps.db,
    chunkQueue: deps.queues.chunks,
    chunkAttempts: deps.chunkAttempts,
    logger,
    onOperationFinished: deps.onOperationFinished,
  });
  return { operations, chunks, finishListener, reconciler };
}

/** Lets running jobs finish, then stops taking new ones. */
export async function closeWorkers(workers: ServiceWorkers): Promise<void> {
  await workers.reconciler.close();
  await Promise.all([workers.operations.close(), workers.chunks.close()]);
  await workers.finishListener.close();
}
