import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';

export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The redis-cluster project's cluster: six nodes on consecutive ports from here. */
export const CLUSTER_BASE_PORT = 17301;
export const CLUSTER_URL = `redis+cluster://${[0, 1, 2].map((i) => `127.0.0.1:${CLUSTER_BASE_PORT + i}`).join(',')}`;
/** On a cluster, queue prefixes must be hash tags. */
export const ON_CLUSTER = REDIS_URL.startsWith('redis+cluster://');

const MIGRATIONS = new URL('../../src/db/migrations/', import.meta.url);

/**
 * The migrated template test databases are copied from, named by a fingerprint of the migration
 * files: worktrees with other migrations, testing on the same server at once, each keep their own.
 */
export async function templateDatabase(): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(MIGRATIONS)).sort())
    hash.update(name).update(await readFile(new URL(name, MIGRATIONS)));
  return `benefits_test_template_${hash.digest('hex').slice(0, 16)}`;
}

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export function adminDb(url = ADMIN_DATABASE_URL): Kysely<any> {
  return new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
}

/** Fails with the command that starts the missing server, rather than with a timeout. */
export async function assertServersReachable(): Promise<void> {
  const db = adminDb();
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${ADMIN_DATABASE_URL}; start it with: ` +
        'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
      { cause: error },
    );
  } finally {
    await db.destroy();
  }
  // The redis-cluster project starts its own cluster: only the shared Redis must already run.
  const redis = new Redis(ON_CLUSTER ? 'redis://127.0.0.1:6379' : REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${REDIS_URL}; start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 ` +
        '--port 6379 --save "" --appendonly no',
      { cause: error },
    );
  } finally {
    redis.disconnect();
  }
}
