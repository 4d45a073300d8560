import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createDatabase } from '../../src/db/database.js';
import { migrateToLatest } from '../../src/db/migrate.js';

/** A database and a queue prefix that belong to one bench run, and how to get rid of both. */
export interface BenchEnvironment {
  databaseName: string;
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  /** A plain `pg` pool on the bench database, for seeding, checks and the hand-written reference. */
  pool: pg.Pool;
  /** Idempotent: deletes the prefix's Redis keys and drops the database, whatever happened before. */
  dispose(): Promise<void>;
}

// Counts, sums and sequences as numbers, as the service's own pool reads them (src/db/database.ts):
// the checks compare them with numbers. That pool sets its parser on its clients only, no longer
// globally, so this pool needs one of its own. Every bigint here stays far below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

export async function deleteRedisKeys(redisUrl: string, pattern: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) deleted += await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

/**
 * Creates `benefits_bench_<random>` (a suffix, so two developers' runs on one server do not
 * collide) migrated with the service's own migrations, and a queue prefix of its own.
 */
export async function createEnvironment(options: {
  adminUrl: string;
  redisUrl: string;
  poolSize: number;
}): Promise<BenchEnvironment> {
  const suffix = randomBytes(3).toString('hex');
  const databaseName = `benefits_bench_${suffix}`;
  const databaseUrl = withDatabase(options.adminUrl, databaseName);
  const queuePrefix = `bench-${suffix}`;
  let pool: pg.Pool | null = null;
  let disposed: Promise<void> | null = null;
  let disposing = false;
  const dispose = () =>
    (disposed ??= (async () => {
      // pg-pool's end() resolves before its sockets close: the forced DROP may still terminate them.
      disposing = true;
      const problems: unknown[] = [];
      await pool?.end().catch((e: unknown) => problems.push(e));
      await deleteRedisKeys(options.redisUrl, `${queuePrefix}:*`).catch((e: unknown) => problems.push(e));
      await adminQuery(options.adminUrl, `DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`).catch((e: unknown) =>
        problems.push(e),
      );
      if (problems.length > 0)
        throw new AggregateError(problems, `bench clean-up of ${databaseName} / ${queuePrefix}: incomplete`);
    })());

  await adminQuery(options.adminUrl, `CREATE DATABASE "${databaseName}"`);
  try {
    const db = createDatabase({ connectionString: databaseUrl, poolSize: 1, onError: () => {} });
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
    // Idle connections stay open, so the CPU meter finds the same backends at the start and the end of a phase.
    pool = new pg.Pool({ connectionString: databaseUrl, max: options.poolSize, idleTimeoutMillis: 0, types });
    pool.on('error', (error) => {
      if (!disposing) console.error('bench pool:', error.message);
    });
  } catch (error) {
    await dispose().catch(() => {});
    throw error;
  }
  return { databaseName, databaseUrl, redisUrl: options.redisUrl, queuePrefix, pool, dispose };
}
