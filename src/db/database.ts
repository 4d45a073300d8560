import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

// bigint and count(*) come back as strings by default; our sequences and counts stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface DatabaseOptions {
  connectionString: string;
  poolSize: number;
  onError: (error: Error) => void;
}

export function createDatabase(options: DatabaseOptions): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize });
  // An idle client losing its connection emits on the pool; without a listener it would crash the process.
  pool.on('error', options.onError);
  // A client checked out of the pool (a chunk's transaction between two statements) has no pool
  // listener: losing its connection then (failover, pg_terminate_backend) emitted 'error' on the
  // client with nobody listening and killed the worker. With this listener the error is logged,
  // the transaction's next statement fails, the chunk is retried, and the pool discards the client.
  pool.on('connect', (client) => client.on('error', options.onError));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
