import { createRedisConnection } from './connections.js';
import { isHashTagPrefix, parseRedisTarget } from './redis-target.js';
import { type PublisherQueues, RedisProducerQueues } from './producer-queues.js';
import { closeQueues, createQueues, type QueueConnection, type ServiceQueues } from './queues.js';

export type QueueBackendConfig =
  { kind: 'redis'; redisUrl: string; prefix: string } | { kind: 'postgres'; databaseUrl: string; schema: string };

export interface QueueBackend {
  kind: QueueBackendConfig['kind'];
  /** What workers are built on: they wait out an outage of the queue store. */
  connection: QueueConnection;
  /** Queues for workers and administration (dashboard, tests). */
  queues: ServiceQueues;
  /** Queues for publishers: they fail fast when the queue store is down. */
  producer: PublisherQueues;
  close(): Promise<void>;
}

export function openQueueBackend(
  config: QueueBackendConfig,
  onError: (component: string) => (error: Error) => void,
): QueueBackend {
  if (config.kind === 'redis') {
    // The service's configuration refuses this at start-up; the producer library is told here.
    if (parseRedisTarget(config.redisUrl)?.kind === 'cluster' && !isHashTagPrefix(config.prefix))
      throw new Error(
        `on a Redis Cluster the queue prefix must be a hash tag such as {benefits}, not ${config.prefix}`,
      );
    const redis = createRedisConnection(config.redisUrl, 'worker', onError('redis'));
    const connection: QueueConnection = { kind: 'redis', connection: redis, prefix: config.prefix };
    const queues = createQueues(connection, onError('queue'));
    const producer = new RedisProducerQueues(config.redisUrl, config.prefix, onError('redis-producer'));
    return {
      kind: 'redis',
      connection,
      queues,
      producer,
      async close() {
        await producer.close();
        await closeQueues(queues);
        redis.disconnect();
      },
    };
  }
  // BullMQ creates its tables in `schema` (migrate: true runs its migrations under an advisory lock).
  const connection: QueueConnection = {
    kind: 'postgres',
    connection: { connectionString: config.databaseUrl, schema: config.schema, migrate: true, max: 4 },
  };
  const queues = createQueues(connection, onError('queue'));
  return {
    kind: 'postgres',
    connection,
    queues,
    producer: {
      chunks: async () => queues.chunks,
      events: async () => queues.events,
      ping: () => queues.chunks.getJobCountByTypes('waiting'),
      close: async () => {},
    },
    close: () => closeQueues(queues),
  };
}
