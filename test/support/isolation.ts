import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { createRedisConnection } from '../../src/queue/connections.js';
import { isCluster } from '../../src/queue/redis-target.js';
import { adminDb, databaseUrl, ON_CLUSTER, REDIS_URL, templateDatabase } from './servers.js';

export interface Isolated {
  name: string;
  databaseUrl: string;
  queuePrefix: string;
  dispose(): Promise<void>;
}

/** A database copied from the migrated template and a queue prefix, both this file's alone. */
export async function isolate(label: string): Promise<Isolated> {
  const name = `benefits_t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
  const template = await templateDatabase();
  const admin = adminDb();
  try {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await sql`CREATE DATABASE ${sql.id(name)} TEMPLATE ${sql.id(template)}`.execute(admin);
        break;
      } catch (error) {
        // Two files copying the template at the same instant: Postgres refuses the second one.
        if (attempt >= 20 || !String(error).includes('being accessed by other users')) throw error;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  } finally {
    await admin.destroy();
  }
  const queuePrefix = ON_CLUSTER ? `{test-${name}}` : `test-${name}`;
  return {
    name,
    databaseUrl: databaseUrl(name),
    queuePrefix,
    async dispose() {
      await deleteRedisKeys(`${queuePrefix}:*`);
      const cleanup = adminDb();
      try {
        await sql`DROP DATABASE IF EXISTS ${sql.id(name)} WITH (FORCE)`.execute(cleanup);
      } finally {
        await cleanup.destroy();
      }
    },
  };
}

export async function deleteRedisKeys(pattern: string, url = REDIS_URL): Promise<void> {
  const client = createRedisConnection(url, 'worker', () => {});
  try {
    // A cluster's keys are spread over its masters: each is scanned on its own.
    const servers = isCluster(client) ? (await waitReady(client), client.nodes('master')) : [client];
    for (const redis of servers) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        // One DEL each: keys of different slots cannot share a command on a cluster.
        if (keys.length > 0) await keys.reduce((batch, key) => batch.del(key), redis.pipeline()).exec();
        cursor = next;
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
}

function waitReady(client: { status: string; once(event: 'ready', listener: () => void): unknown }): Promise<void> {
  return client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', resolve));
}
