import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/**
 * Where the queues' Redis is: one server (`redis://`, `rediss://`) or a Redis Cluster
 * (`redis+cluster://[user:password@]host:port,host:port`, `rediss+cluster://` for TLS). A cluster
 * URL names seed nodes only; the client discovers the rest of the cluster from them.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean };

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/?$/;
const NODE = /^(\[[0-9a-f:]+\]|[^:,[\]]+):(\d{1,5})$/i;

/** Parses a Redis URL; null when it is neither a single-server nor a cluster URL. */
export function parseRedisTarget(url: string): RedisTarget | null {
  const cluster = CLUSTER_URL.exec(url);
  if (!cluster) {
    try {
      const parsed = new URL(url);
      return parsed.protocol === 'redis:' || parsed.protocol === 'rediss:' ? { kind: 'single', url } : null;
    } catch {
      return null;
    }
  }
  const [, scheme, username, password, hosts] = cluster;
  const nodes: { host: string; port: number }[] = [];
  for (const node of hosts!.split(',')) {
    const match = NODE.exec(node.trim());
    if (!match || Number(match[2]) > 65535) return null;
    nodes.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]) });
  }
  return {
    kind: 'cluster',
    nodes,
    ...(username && { username: decodeURIComponent(username) }),
    ...(password && { password: decodeURIComponent(password) }),
    tls: scheme === 'rediss',
  };
}

/** A cluster URL made from `REDIS_CLUSTER_NODES` (`host:port,host:port`). */
export function clusterUrl(nodes: string): string {
  return `redis+cluster://${nodes
    .split(',')
    .map((node) => node.trim())
    .filter((node) => node.length > 0)
    .join(',')}`;
}

/**
 * BullMQ runs scripts that touch several keys of a queue at once; on a cluster they must share a
 * hash slot, which a prefix wrapped in braces (`{benefits}`) guarantees.
 */
export function isHashTagPrefix(prefix: string): boolean {
  return /^\{[^{}]+\}/.test(prefix);
}

export type RedisClient = Redis | Cluster;

/** A client for the target; `options` apply to every node of a cluster. */
export function openRedis(
  target: RedisTarget,
  options: RedisOptions,
  clusterOptions: Omit<ClusterOptions, 'redisOptions'> = {},
): RedisClient {
  if (target.kind === 'single') return new Redis(target.url, options);
  return new Cluster(target.nodes, {
    ...clusterOptions,
    redisOptions: {
      ...options,
      ...(target.username && { username: target.username }),
      ...(target.password && { password: target.password }),
      ...(target.tls && { tls: {} }),
    },
  });
}

export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}
