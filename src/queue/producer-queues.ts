import type { Queue } from 'bullmq';
import { createRedisConnection, waitForRedis } from './connections.js';
import { closeQueues, createQueues, type ServiceQueues } from './queues.js';

/** The queues a publisher adds to. */
export interface PublisherQueues {
  chunks(): Promise<Queue>;
  events(): Promise<Queue>;
  /** Answers when the queue store is reachable; for readiness checks. */
  ping(): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * The publishing side's queues on Redis, on a fail-fast connection. BullMQ initialises a queue
 * with a command that cannot be sent while the connection is down, so the queues are made only
 * once Redis has answered; every publish checks the connection first and fails with
 * QueueUnavailableError within seconds when Redis is away.
 */
export class RedisProducerQueues implements PublisherQueues {
  readonly redis;
  #queues: ServiceQueues | null = null;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly onError: (error: Error) => void,
  ) {
    this.redis = createRedisConnection(url, 'producer', onError);
  }

  async queues(): Promise<ServiceQueues> {
    await waitForRedis(this.redis);
    this.#queues ??= createQueues({ kind: 'redis', connection: this.redis, prefix: this.prefix }, this.onError);
    return this.#queues;
  }

  async chunks(): Promise<Queue> {
    return (await this.queues()).chunks;
  }

  async events(): Promise<Queue> {
    return (await this.queues()).events;
  }

  ping(): Promise<unknown> {
    return this.redis.ping();
  }

  async close(): Promise<void> {
    if (this.#queues) await closeQueues(this.#queues);
    this.redis.disconnect();
  }
}
