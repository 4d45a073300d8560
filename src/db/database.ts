import { CompiledQuery, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { preparedStatements, type StatementCall } from './prepared-statements.js';
import type { Database } from './schema.js';

// bigint and count(*) come back as strings by default; our sequences and counts stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface DatabaseOptions {
  connectionString: string;
  poolSize: number;
  onError: (error: Error) => void;
}

const CHUNK_PATH_MARK = '/* chunk path */';

/**
 * Statements of the chunk path sent as one query (see `chunk-transaction.ts`); it answers with
 * one row set per statement, in order, BEGIN and COMMIT included.
 */
export function chunkPathQuery(statements: readonly StatementCall<unknown>[]): CompiledQuery<unknown[]> {
  return CompiledQuery.raw(CHUNK_PATH_MARK, [...statements]) as CompiledQuery<unknown[]>;
}

type Results = pg.QueryResult | pg.QueryResult[];

/**
 * The statements in the extended query protocol, all written at once with one Sync at the end:
 * each is bound (its parameters go as text, which Postgres does not read as SQL), described and
 * executed on the unnamed portal. Postgres answers every one in turn and stops at the first that
 * fails; pg's Query reads the answers into one result per statement, as it does for a
 * multi-statement query.
 */
class ChunkPathBatch extends pg.Query {
  constructor(
    private readonly statements: readonly StatementCall<unknown>[],
    callback: (error: Error | undefined, results: Results) => void,
  ) {
    super({ text: CHUNK_PATH_MARK }, callback as never);
  }

  override submit = (connection: pg.Connection): void => {
    // One write for the whole batch, not one per message.
    connection.stream.cork();
    try {
      for (const statement of this.statements) {
        if (statement.text !== undefined) connection.parse({ name: '', text: statement.text, types: [] }, true);
        connection.bind({ statement: statement.name, values: statement.values as (string | null)[] }, true);
        connection.describe({ type: 'P', name: '' }, true);
        connection.execute({ portal: '' }, true);
      }
      connection.sync();
    } finally {
      connection.stream.uncork();
    }
  };
}

/**
 * A pg client that runs `chunkPathQuery` queries: before the first one on a connection it
 * prepares the chunk path's statements there (each on its own, so that a failure leaves no doubt
 * about which exist), and it answers with every statement's rows (pg would answer with an array
 * of results, which Kysely cannot read).
 */
class ChunkPathClient extends pg.Client {
  readonly #prepared = new Set<string>();

  override query(...args: unknown[]): any {
    const [text, statements] = args;
    if (text === CHUNK_PATH_MARK) return this.#chunkPathQuery(statements as StatementCall<unknown>[]);
    return (pg.Client.prototype.query as (...a: unknown[]) => unknown).apply(this, args);
  }

  async #chunkPathQuery(
    statements: readonly StatementCall<unknown>[],
  ): Promise<{ command: string; rowCount: null; rows: unknown[][] }> {
    for (const statement of preparedStatements()) {
      if (this.#prepared.has(statement.name)) continue;
      await super.query(statement.definition);
      this.#prepared.add(statement.name);
    }
    const result = await new Promise<Results>((resolve, reject) => {
      super.query(new ChunkPathBatch(statements, (error, results) => (error ? reject(error) : resolve(results))));
    });
    const results = Array.isArray(result) ? result : [result];
    return { command: 'CHUNK PATH', rowCount: null, rows: results.map((r) => r.rows) };
  }
}

export function createDatabase(options: DatabaseOptions): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize,
    // A new connection costs the worker about 5 ms of CPU and 13 ms before its first chunk (start-up,
    // then PREPARE of the chunk path's 24 statements); a worker between two batches keeps its
    // connections for a minute instead of pg's 10 s.
    idleTimeoutMillis: 60_000,
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
