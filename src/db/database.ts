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
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
