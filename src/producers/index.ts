import type { Kysely } from 'kysely';
import { createDatabase } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { listRejections, loadOperationView, type OperationView } from '../read/operations.read.js';
import { openQueueBackend } from '../queue/queue-backend.js';
import { awaitFinalOperation } from './await-operation.js';
import type { OperationInput } from '../contract/index.js';
import { publish, type PublishResult } from './publisher.js';
import { publishStream, type StreamHeader, type StreamPublishOptions } from './stream-publisher.js';

export * from '../contract/index.js';
export { OperationTimeoutError } from './await-operation.js';
export { QueueUnavailableError } from '../queue/connections.js';
export type { OperationView };

export interface ProducerOptions {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix?: string;
  /** Where the service keeps its queues; `postgres` uses BullMQ's PostgreSQL backend. */
  queueBackend?: 'redis' | 'postgres';
  queueSchema?: string;
  chunkAttempts?: number;
  poolSize?: number;
  onError?: (error: Error) => void;
}

export interface Producer {
  /** Records the operation and enqueues its chunks; resolves with the operationId at once. */
  publish(operation: OperationInput): Promise<Omit<PublishResult, 'operation'>>;
  /**
   * Publishes a batch read from a stream (a file of millions of members) with bounded memory.
   * `openItems` is called twice: once to check and hash every item, once to store them with the operation.
   */
  publishStream(
    header: StreamHeader,
    openItems: () => AsyncIterable<unknown>,
    options?: StreamPublishOptions,
  ): Promise<Omit<PublishResult, 'operation'>>;
  getOperation(operationId: string): Promise<OperationView | undefined>;
  /** Every rejected item of the operation, by position. */
  rejections(operationId: string): AsyncIterable<{
    position: number;
    memberId: string | null;
    couponId: string | null;
    packageId: string | null;
    recordId: string | null;
    reason: string;
  }>;
  /** Resolves when the operation reaches a final status (polls Postgres, the source of truth). */
  waitForOperation(operationId: string, options?: { timeoutMs?: number; intervalMs?: number }): Promise<OperationView>;
  close(): Promise<void>;
}

/** The typed producer library for Node.js publishers. */
export function createProducer(options: ProducerOptions): Producer {
  const onError = options.onError ?? ((error: Error) => console.error('benefits producer:', error.message));
  const db: Kysely<Database> = createDatabase({
    connectionString: options.databaseUrl,
    poolSize: options.poolSize ?? 4,
    onError,
  });
  const backend = openQueueBackend(
    options.queueBackend === 'postgres'
      ? { kind: 'postgres', databaseUrl: options.databaseUrl, schema: options.queueSchema ?? 'bullmq' }
      : { kind: 'redis', redisUrl: options.redisUrl, prefix: options.queuePrefix ?? 'bull' },
    () => onError,
  );
  const queues = backend.producer;
  const deps = { db, chunkQueue: () => queues.chunks(), chunkAttempts: options.chunkAttempts ?? 10 };
  return {
    async publish(operation) {
      const { operation: _row, ...result } = await publish(deps, operation, { source: 'producer' });
      return result;
    },
    async publishStream(header, openItems, streamOptions = {}) {
      const { operation: _row, ...result } = await publishStream(deps, header, openItems, {
        source: 'producer',
        ...streamOptions,
      });
      return result;
    },
    getOperation: (operationId) => loadOperationView(db, operationId),
    async *rejections(operationId) {
      for (let after = -1; ;) {
        const page = await listRejections(db, operationId, after, 1_000);
        for (const item of page.items)
          yield {
            position: item.position,
            memberId: item.memberId ?? null,
            couponId: item.couponId ?? null,
            packageId: item.packageId ?? null,
            recordId: item.recordId ?? null,
            reason: item.reason,
          };
        if (page.nextCursor === null) return;
        after = Number(page.nextCursor);
      }
    },
    waitForOperation: (operationId, waitOptions) => awaitFinalOperation(db, operationId, waitOptions),
    async close() {
      await backend.close();
      await db.destroy();
    },
  };
}
