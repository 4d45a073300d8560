import { parameterText, type SqlValue } from './parameter-text.js';

/**
 * One execution of a statement of the chunk path: a prepared statement bound by name with its
 * parameters as text, or a statement without parameters (BEGIN, COMMIT) parsed as the unnamed
 * statement and bound to it; `Row` types the rows it answers with.
 */
export interface StatementCall<Row> {
  /** The statement to bind: a prepared one, or '' for the unnamed statement parsed from `text`. */
  readonly name: string;
  /** Parsed as the unnamed statement just before it is bound; only where `name` is ''. */
  readonly text?: string;
  readonly values: readonly (string | null)[];
  /** Type only: never set. */
  readonly row?: Row;
}

export interface PreparedStatement<Row> {
  readonly name: string;
  /** The PREPARE statement that defines it on a connection. */
  readonly definition: string;
  call(...args: SqlValue[]): StatementCall<Row>;
}

/** A statement without parameters, parsed every time it is sent (what BEGIN or COMMIT costs to parse is nothing). */
export function unprepared(text: string): StatementCall<never> {
  return { name: '', text, values: [] };
}

export const BEGIN = unprepared('BEGIN');
export const COMMIT = unprepared('COMMIT');

const registry = new Map<string, PreparedStatement<unknown>>();

/**
 * A statement of the chunk path, prepared once on each connection (`PREPARE`) and then bound by
 * name with its parameters as text: several of them, with BEGIN or COMMIT, go to Postgres in one
 * write and come back in one reply (`chunkPathQuery`), and Postgres neither plans them again nor
 * reads their values as SQL. Names are global: define each statement once, at module level.
 */
export function definePrepared<Row>(
  name: string,
  parameterTypes: readonly string[],
  text: string,
): PreparedStatement<Row> {
  if (registry.has(name)) throw new Error(`prepared statement ${name} is defined twice`);
  const statement: PreparedStatement<Row> = {
    name,
    // PREPARE takes no parentheses for a statement without parameters.
    definition: `PREPARE ${name}${parameterTypes.length > 0 ? `(${parameterTypes.join(', ')})` : ''} AS ${text}`,
    call(...args) {
      if (args.length !== parameterTypes.length)
        throw new Error(`${name} takes ${parameterTypes.length} arguments, not ${args.length}`);
      return { name, values: args.map(parameterText) };
    },
  };
  registry.set(name, statement);
  return statement;
}

/** Every statement defined so far. */
export function preparedStatements(): Iterable<PreparedStatement<unknown>> {
  return registry.values();
}
