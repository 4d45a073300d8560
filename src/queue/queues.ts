import {
  createPostgresBackend,
  Queue,
  Worker,
  type PostgresConnectionOptions,
  type Processor,
  type WorkerOptions,
} from 'bullmq';
import type { RedisClient } from './redis-target.js';
import { QUEUES } from '../contract/index.js';
import { operationJobOptions } from './job-options.js';

/**
 * Where BullMQ keeps its queues: Redis (the default, keys under `prefix`) or PostgreSQL through
 * BullMQ 6's PostgreSQL backend (tables in `connection.schema`).
 */
export type QueueConnection =
  | { kind: 'redis'; connection: RedisClient; prefix: string }
  | { kind: 'postgres'; connection: Exclude<PostgresConnectionOptions, string> };

export interface ServiceQueues {
  operations: Queue;
  chunks: Queue;
  events: Queue;
}

function newQueue(on: QueueConnection, name: string, defaultJobOptions = {}): Queue {
  if (on.kind === 'redis') return new Queue(name, { connection: on.connection, prefix: on.prefix, defaultJobOptions });
  return new Queue(name, { connection: on.connection, defaultJobOptions }, createPostgresBackend) as unknown as Queue;
}

export function createQueues(on: QueueConnection, onError: (error: Error) => void): ServiceQueues {
  const operations = newQueue(on, QUEUES.operations, operationJobOptions);
  const chunks = newQueue(on, QUEUES.chunks);
  const events = newQueue(on, QUEUES.events);
  for (const queue of [operations, chunks, events]) queue.on('error', onError);
  return { operations, chunks, events };
}

export function createWorker(
  on: QueueConnection,
  name: string,
  processor: Processor,
  options: Omit<WorkerOptions, 'connection' | 'prefix'>,
): Worker {
  if (on.kind === 'redis')
    return new Worker(name, processor, { ...options, connection: on.connection, prefix: on.prefix });
  return new Worker(
    name,
    processor,
    { ...options, connection: on.connection },
    createPostgresBackend,
  ) as unknown as Worker;
}

export async function closeQueues(queues: ServiceQueues): Promise<void> {
  await Promise.all([queues.operations.close(), queues.chunks.close(), queues.events.close()]);
}
