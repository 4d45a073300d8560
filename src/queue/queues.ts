import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES } from '../producers/contract.js';
import { operationJobOptions } from './job-options.js';

export interface ServiceQueues {
  operations: Queue;
  chunks: Queue;
}

export function createQueues(connection: Redis, prefix: string, onError: (error: Error) => void): ServiceQueues {
  const common = { connection, prefix };
  const operations = new Queue(QUEUES.operations, { ...common, defaultJobOptions: operationJobOptions });
  const chunks = new Queue(QUEUES.chunks, common);
  operations.on('error', onError);
  chunks.on('error', onError);
  return { operations, chunks };
}

export async function closeQueues(queues: ServiceQueues): Promise<void> {
  await Promise.all([queues.operations.close(), queues.chunks.close()]);
}
