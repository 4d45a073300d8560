import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES } from '../producers/contract.js';
import { operationJobOptions } from './job-options.js';

export interface ServiceQueues {
  operations: Queue;
  chunks: Queue;
  events: Queue;
}

export function createQueues(connection: Redis, prefix: string, onError: (error: Error) => void): ServiceQueues {
  const common = { connection, prefix };
  const operations = new Queue(QUEUES.operations, { ...common, defaultJobOptions: operationJobOptions });
  const chunks = new Queue(QUEUES.chunks, common);
  const events = new Queue(QUEUES.events, common);
  for (const queue of [operations, chunks, events]) queue.on('error', onError);
  return { operations, chunks, events };
}

export async function closeQueues(queues: ServiceQueues): Promise<void> {
  await Promise.all([queues.operations.close(), queues.chunks.close(), queues.events.close()]);
}
