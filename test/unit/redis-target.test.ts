import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { clusterUrl, isHashTagPrefix, parseRedisTarget } from '../../src/queue/redis-target.js';

describe('Redis targets', () => {
  it('parses one server and a cluster with credentials and IPv6 seeds', () => {
    expect(parseRedisTarget('redis://127.0.0.1:6379')).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379' });
    expect(parseRedisTarget('rediss+cluster://app:p%40ss@10.0.0.1:7000,[::1]:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '::1', port: 7001 },
      ],
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
  });

  it('refuses what is not a Redis URL', () => {
    for (const url of ['http://x:1', 'redis+cluster://', 'redis+cluster://a:1,b', 'redis+cluster://a:99999', 'nope'])
      expect(parseRedisTarget(url), url).toBeNull();
  });

  it('builds a cluster URL from REDIS_CLUSTER_NODES', () => {
    expect(clusterUrl(' a:1, b:2 ,')).toBe('redis+cluster://a:1,b:2');
  });

  it('knows a hash-tag prefix', () => {
    expect(isHashTagPrefix('{benefits}')).toBe(true);
    expect(isHashTagPrefix('{benefits}:eu')).toBe(true);
    expect(isHashTagPrefix('benefits')).toBe(false);
    expect(isHashTagPrefix('{}')).toBe(false);
  });

  it('refuses a cluster without a hash-tag prefix at start-up, and takes one with it', () => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1,b:2', QUEUE_PREFIX: 'bull' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_URL: 'redis+cluster://a:1', QUEUE_PREFIX: 'bull' })).toThrow(/hash tag/);
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:1,b:2', QUEUE_PREFIX: '{benefits}' }).redisUrl).toBe(
      'redis+cluster://a:1,b:2',
    );
    // The queues in PostgreSQL need no Redis at all.
    expect(loadConfig({ REDIS_URL: 'redis+cluster://a:1', QUEUE_BACKEND: 'postgres' }).queueBackend).toBe('postgres');
  });
});
