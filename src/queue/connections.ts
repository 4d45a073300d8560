import { Redis } from 'ioredis';

export type RedisRole = 'worker' | 'producer';

/**
 * Workers block on Redis and must wait out an outage (`maxRetriesPerRequest: null`); producers
 * should fail fast instead of queueing commands while Redis is away (`enableOfflineQueue: false`).
 */
export function createRedisConnection(url: string, role: RedisRole, onError: (error: Error) => void): Redis {
  const connection =
    role === 'worker'
      ? new Redis(url, { maxRetriesPerRequest: null })
      : new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 5_000 });
  connection.on('error', onError);
  return connection;
}
