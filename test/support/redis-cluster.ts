import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

export interface ClusterNode {
  readonly port: number;
  readonly pid: number;
  running(): boolean;
}

export interface RedisCluster {
  /** `redis+cluster://` URL naming every node as a seed. */
  readonly url: string;
  readonly nodes: readonly ClusterNode[];
  /** The node that serves `key`'s slot now. */
  masterOf(key: string): Promise<ClusterNode>;
  /** SIGKILL to one node, as a crashed machine. */
  kill(node: ClusterNode): void;
  /** Resolves once every slot is served again and the cluster answers `cluster_state:ok`. */
  healthy(timeoutMs?: number): Promise<void>;
  /** Stops every node this cluster started and removes their directories. */
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A real Redis Cluster on this machine: `masters` masters with `replicas` replica each, every node a
 * `redis-server --cluster-enabled yes` of its own on consecutive ports from `basePort`, joined with
 * `redis-cli --cluster create`. A short node timeout makes a replica take over within seconds.
 */
export async function startRedisCluster(options: {
  basePort: number;
  masters?: number;
  replicas?: number;
  nodeTimeoutMs?: number;
}): Promise<RedisCluster> {
  const { basePort, masters = 3, replicas = 1, nodeTimeoutMs = 2_000 } = options;
  const ports = Array.from({ length: masters * (1 + replicas) }, (_, i) => basePort + i);
  const dir = await mkdtemp(join(tmpdir(), 'benefits-cluster-'));
  const children = new Map<number, ChildProcess>();
  const nodes: ClusterNode[] = [];
  try {
    for (const port of ports) {
      const child = spawn(
        'redis-server',
        [
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--cluster-enabled', 'yes',
          '--cluster-config-file', `nodes-${port}.conf`,
          '--cluster-node-timeout', String(nodeTimeoutMs),
          '--save', '',
          '--appendonly', 'no',
          '--maxmemory-policy', 'noeviction',
          '--dir', dir,
        ], // prettier-ignore
        { stdio: 'ignore' },
      );
      children.set(port, child);
      nodes.push({ port, pid: child.pid!, running: () => child.exitCode === null && child.signalCode === null });
    }
    for (const port of ports) await waitForPing(port);
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
  } catch (error) {
    for (const child of children.values()) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const live = () => nodes.filter((node) => node.running());

  const cluster: RedisCluster = {
    url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    nodes,
    async masterOf(key) {
      const slot = await probe(live()[0]!.port, (r) => r.call('CLUSTER', 'KEYSLOT', key) as Promise<number>);
      const shards = (await probe(live()[0]!.port, (r) => r.call('CLUSTER', 'SLOTS'))) as [
        number,
        number,
        [string, number],
      ][];
      const shard = shards.find(([from, to]) => slot! >= from && slot! <= to);
      const node = nodes.find((n) => n.port === shard?.[2][1]);
      if (!node) throw new Error(`no master serves slot ${slot}`);
      return node;
    },
    kill(node) {
      children.get(node.port)?.kill('SIGKILL');
    },
    async healthy(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const running = live();
        const states = await Promise.all(
          running.map((node) => probe(node.port, (r) => r.call('CLUSTER', 'INFO') as Promise<string>)),
        );
        // Right after a kill every node still says ok: healthy means each slot range's master is a
        // running node again (its replica was promoted), as every running node sees it.
        const shards = await Promise.all(
          running.map((node) =>
            probe(node.port, (r) => r.call('CLUSTER', 'SLOTS') as Promise<[number, number, [string, number]][]>),
          ),
        );
        const ports = new Set(running.map((node) => node.port));
        const served = shards.every((list) => list !== undefined && list.every((shard) => ports.has(shard[2][1])));
        if (
          served &&
          states.every((info) => info?.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384'))
        )
          return;
        if (Date.now() > deadline) throw new Error(`redis cluster not healthy after ${timeoutMs} ms: ${states}`);
        await sleep(100);
      }
    },
    async dispose() {
      await Promise.all(
        [...children.values()].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGKILL');
            }),
        ),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.healthy();
    await replicasInSync(ports);
  } catch (error) {
    await cluster.dispose();
    throw error;
  }
  return cluster;
}

/** Asks one node something on a connection of its own; undefined when it does not answer. */
async function probe<T>(port: number, ask: (redis: Redis) => Promise<T>): Promise<T | undefined> {
  const redis = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await ask(redis);
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

async function waitForPing(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if ((await probe(port, (redis) => redis.ping())) === 'PONG') return;
    await sleep(50);
  }
  throw new Error(`redis-server on port ${port} did not start`);
}

/** A replica that has not finished its first sync cannot take over: wait for every link. */
async function replicasInSync(ports: number[]): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt += 1) {
    const infos = await Promise.all(ports.map((port) => probe(port, (r) => r.info('replication'))));
    const replicas = infos.filter((info) => info?.includes('role:slave'));
    if (replicas.length > 0 && replicas.every((info) => info!.includes('master_link_status:up'))) return;
    await sleep(100);
  }
  throw new Error('redis cluster replicas did not sync');
}
