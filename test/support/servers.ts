import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';

export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Changes with the migration files, so checkouts with other migrations never share a template. */
function migrationsFingerprintSync(): string {
  const dir = new URL('../../src/db/migrations/', import.meta.url);
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).sort()) hash.update(name).update(readFileSync(new URL(name, dir)));
  return hash.digest('hex').slice(0, 12);
}
export const TEMPLATE_DATABASE = `benefits_test_template_${migrationsFingerprintSync()}`;

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
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
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
