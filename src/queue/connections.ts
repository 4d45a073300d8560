import { openRedis, parseRedisTarget, type RedisClient } from './redis-target.js';

export type RedisRole = 'worker' | 'producer';

const PRODUCER_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Workers block on Redis and must wait out an outage (`maxRetriesPerRequest: null`); producers
 * should fail fast instead of queueing commands while Redis is away (`enableOfflineQueue: false`).
 * `url` is one server's or a cluster's (`redis+cluster://host:port,...`).
 */
export function createRedisConnection(url: string, role: RedisRole, onError: (error: Error) => void): RedisClient {
  const target = parseRedisTarget(url);
  if (!target) throw new Error(`not a Redis URL: ${url.replace(/\/\/[^@]*@/, '//***@')}`);
  const connection =
    role === 'worker'
      ? openRedis(target, { maxRetriesPerRequest: null })
      : openRedis(
          target,
          { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: PRODUCER_CONNECT_TIMEOUT_MS },
          { enableOfflineQueue: false },
        );
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
  // A cluster adds its own: no node answers, the cluster is failing over, or it has no ready client yet.
  return (
    error.name === 'MaxRetriesPerRequestError' ||
    error.name === 'ClusterAllFailedError' ||
    /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|CLUSTERDOWN|Cluster isn't ready|Too many Cluster redirections|None of startup nodes|Failed to refresh slots cache/.test(
      error.message,
    )
  );
}

/**
 * Resolves once the connection is ready, or rejects after `timeoutMs` with a clear error, so a
 * publisher is told Redis is down instead of waiting on it forever.
 */
export function waitForRedis(connection: RedisClient, timeoutMs = PRODUCER_CONNECT_TIMEOUT_MS): Promise<void> {
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
