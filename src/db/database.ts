import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export interface DatabaseOptions {
  connectionString: string;
  poolSize: number;
  onError: (error: Error) => void;
}

// bigint and count(*) come back as strings by default; our sequences, counts and amounts stay far
// below 2^53. Set on this pool's clients only: a process that embeds the producer library keeps
// its own parsers.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

const pools = new WeakMap<Kysely<Database>, pg.Pool>();

/**
 * The service's connections: one pg pool, in pg's pipeline mode (a client sends the statements it
 * is given without waiting for the answer to each: a chunk's transaction is two round trips, see
 * `src/operations/chunk-transaction.ts`), with Kysely on top for everything else.
 */
export function createDatabase(options: DatabaseOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize,
    // A new connection costs the worker a few ms of CPU and its first chunk's statements their
    // Parse: a worker between two batches keeps its connections a minute instead of pg's 10 s.
    idleTimeoutMillis: 60_000,
    types,
    pipeline: true,
  } as pg.PoolConfig);
  // An idle client losing its connection emits on the pool; without a listener it would crash the process.
  pool.on('error', options.onError);
  // A client checked out of the pool (a chunk's transaction between two round trips) has no pool
  // listener: losing its connection then (failover, pg_terminate_backend) emitted 'error' on the
  // client with nobody listening and killed the worker. With this listener the error is logged,
  // the transaction's next statement fails, the chunk is retried, and the pool discards the client.
  pool.on('connect', (client) => client.on('error', options.onError));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, pool);
  return db;
}

/** The pool under a database made by `createDatabase`, for the chunk path's own clients. */
export function poolOf(db: Kysely<Database>): pg.Pool {
  const pool = pools.get(db);
  if (!pool) throw new Error('this Kysely instance was not made by createDatabase');
  return pool;
}
