import type { Kysely } from 'kysely';
import { createDatabase } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { loadOperationView, type OperationView } from '../http/operation-view.js';
import { ProducerQueues } from '../queue/producer-queues.js';
import { awaitFinalOperation } from './await-operation.js';
import type { OperationInput } from './contract.js';
import { publish, type PublishResult } from './publisher.js';

export * from './contract.js';
export { operationJsonSchema } from './json-schema.js';
export { OperationTimeoutError } from './await-operation.js';
export { QueueUnavailableError } from '../queue/connections.js';
export type { OperationView };

export interface ProducerOptions {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix?: string;
  chunkAttempts?: number;
  poolSize?: number;
  onError?: (error: Error) => void;
}

export interface Producer {
  /** Records the operation and enqueues its chunks; resolves with the operationId at once. */
  publish(operation: OperationInput): Promise<Omit<PublishResult, 'operation'>>;
  getOperation(operationId: string): Promise<OperationView | undefined>;
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
  const queues = new ProducerQueues(options.redisUrl, options.queuePrefix ?? 'bull', onError);
  const deps = { db, chunkQueue: () => queues.chunks(), chunkAttempts: options.chunkAttempts ?? 10 };
  return {
    async publish(operation) {
      const { operation: _row, ...result } = await publish(deps, operation, { source: 'producer' });
      return result;
    },
    getOperation: (operationId) => loadOperationView(db, operationId),
    waitForOperation: (operationId, waitOptions) => awaitFinalOperation(db, operationId, waitOptions),
    async close() {
      await queues.close();
      await db.destroy();
    },
  };
}
