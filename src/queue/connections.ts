import { Redis } from 'ioredis';

export type RedisRole = 'worker' | 'producer';

const PRODUCER_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Workers block on Redis and must wait out an outage (`maxRetriesPerRequest: null`); producers
 * should fail fast instead of queueing commands while Redis is away (`enableOfflineQueue: false`).
 */
export function createRedisConnection(url: string, role: RedisRole, onError: (error: Error) => void): Redis {
  const connection =
    role === 'worker'
      ? new Redis(url, { maxRetriesPerRequest: null })
      : new Redis(url, {
          maxRetriesPerRequest: 1,
          enableOfflineQueue: false,
          connectTimeout: PRODUCER_CONNECT_TIMEOUT_MS,
        });
  connection.on('error', onError);
  return connection;
}

export class QueueUnavailableError extends Error {
  override name = 'QueueUnavailableError';
  readonly code = 'queue_unavailable';
}

/**
 * ioredis' errors for a connection that went down under a command: refused while offline on a
 * fail-fast connection, closed with the command in flight, out of retries, or a socket error.
 */
export function isConnectionLost(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH/.test(
      error.message,
    )
  );
}

/**
 * Resolves once the connection is ready, or rejects after `timeoutMs` with a clear error, so a
 * publisher is told Redis is down instead of waiting on it forever.
 */
export function waitForRedis(connection: Redis, timeoutMs = PRODUCER_CONNECT_TIMEOUT_MS): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      connection.off('ready', onReady);
      reject(
        new QueueUnavailableError(`Redis is not reachable (connection ${connection.status}) after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    connection.once('ready', onReady);
  });
}
