import {
  type Compilable,
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type RawBuilder,
} from 'kysely';
import type { Database } from './schema.js';

/**
 * One execution of a statement, as pg sends it: with a name, pg parses it once per connection
 * and binds it by name afterwards (its text must then be the same every time: the parameters
 * vary, never the SQL); without one, a statement of no parameters (BEGIN, COMMIT).
 */
export interface NamedQuery<Row> {
  readonly name?: string;
  readonly text: string;
  readonly values?: readonly unknown[];
  /** Type only: the rows it answers with. */
  readonly row?: Row;
}

/** Kysely without a connection: it compiles the chunk path's statements, which pg then sends. */
export const compiler = new Kysely<Database>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/**
 * A statement of the chunk path, written with Kysely (a builder, or the `sql` template typed with
 * its row): `name` is the name pg prepares it under on each connection.
 */
export function namedStatement<Args extends unknown[], Row>(
  name: string,
  build: (...args: Args) => Compilable<Row> | RawBuilder<Row>,
): (...args: Args) => NamedQuery<Row> {
  return (...args) => {
    const query = build(...args);
    const compiled = 'isRawBuilder' in query ? query.compile(compiler) : query.compile();
    return { name, text: compiled.sql, values: compiled.parameters };
  };
}

/** A statement without parameters, sent as it is. */
export const plain = (text: string): NamedQuery<never> => ({ text });

export const BEGIN = plain('BEGIN');
export const COMMIT = plain('COMMIT');
export const ROLLBACK = plain('ROLLBACK');
