import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

// bigint and count(*) come back as strings by default; our sequences and counts stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface DatabaseOptions {
  connectionString: string;
  poolSize: number;
  onError: (error: Error) => void;
}

const PREPARED_MARK = '/* prepared: ';
const preparedNames = new Map<string, string>();
/** The statement's own name plus its text's digest: a name never stands for two texts. */
function preparedName(text: string): string {
  let name = preparedNames.get(text);
  if (name === undefined) {
    const label = text.slice(PREPARED_MARK.length, text.indexOf(' */'));
    name = `${label}-${createHash('sha1').update(text).digest('hex').slice(0, 12)}`;
    preparedNames.set(text, name);
  }
  return name;
}

/**
 * Marks a hot statement to run as a named prepared statement: each pooled connection parses and
 * plans it once, not on every chunk (that was a fifth of Postgres' CPU on a large batch). Put it
 * first in a `sql` template; the label names the statement in pg_prepared_statements. Only for
 * statements whose text is fixed (values as parameters), so that the set of names stays small.
 */
export const prepared = (label: string) => sql.raw(`${PREPARED_MARK}${label} */ `);

const TRANSACTION_CONTROL = new Set(['BEGIN', 'COMMIT', 'ROLLBACK']);
const lastStatementResult = (results: pg.QueryResult[]) =>
  results.filter((r) => !TRANSACTION_CONTROL.has(r.command)).at(-1) ?? results.at(-1);

/**
 * A pg client with the two things the chunk path needs from it:
 * - multi-statement queries answer with the result of their last statement other than BEGIN /
 *   COMMIT / ROLLBACK. pg answers them with an array, which Kysely cannot read; the chunk path
 *   sends `BEGIN; …` and `…; COMMIT` as single queries to save round trips (see
 *   `chunk-transaction.ts`), and needs the rows of the statement travelling with them;
 * - statements marked with `prepared()` run as named prepared statements.
 */
class ChunkPathClient extends pg.Client {
  override query(...args: unknown[]): any {
    const [text, values] = args;
    if (args.length === 2 && typeof text === 'string' && Array.isArray(values) && text.startsWith(PREPARED_MARK)) {
      args = [{ name: preparedName(text), text, values }];
    }
    const result = (pg.Client.prototype.query as (...a: unknown[]) => unknown).apply(this, args);
    if (!(result instanceof Promise)) return result;
    return result.then((r: unknown) => (Array.isArray(r) ? lastStatementResult(r) : r));
  }
}

export function createDatabase(options: DatabaseOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize,
    Client: ChunkPathClient,
  });
  // An idle client losing its connection emits on the pool; without a listener it would crash the process.
  pool.on('error', options.onError);
  // A client checked out of the pool (a chunk's transaction between two statements) has no pool
  // listener: losing its connection then (failover, pg_terminate_backend) emitted 'error' on the
  // client with nobody listening and killed the worker. With this listener the error is logged,
  // the transaction's next statement fails, the chunk is retried, and the pool discards the client.
  pool.on('connect', (client) => client.on('error', options.onError));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
