import { type SqlValue, sqlLiteral } from './sql-literals.js';

/** One execution of a prepared statement, as SQL text; `Row` types the rows it answers with. */
export interface StatementCall<Row> {
  readonly text: string;
  /** Type only: never set. */
  readonly row?: Row;
}

export interface PreparedStatement<Row> {
  readonly name: string;
  /** The PREPARE statement that defines it on a connection. */
  readonly definition: string;
  call(...args: SqlValue[]): StatementCall<Row>;
}

const registry = new Map<string, PreparedStatement<unknown>>();

/**
 * A statement of the chunk path, prepared once on each connection (`PREPARE`) and executed by
 * name with literal arguments (`EXECUTE name(…)`). That lets a chunk send several of them, with
 * BEGIN or COMMIT, in one query, and Postgres plans none of them again. Names are global: define
 * each statement once, at module level.
 */
export function definePrepared<Row>(
  name: string,
  parameterTypes: readonly string[],
  text: string,
): PreparedStatement<Row> {
  if (registry.has(name)) throw new Error(`prepared statement ${name} is defined twice`);
  const statement: PreparedStatement<Row> = {
    name,
    definition: `PREPARE ${name}(${parameterTypes.join(', ')}) AS ${text}`,
    call(...args) {
      if (args.length !== parameterTypes.length)
        throw new Error(`${name} takes ${parameterTypes.length} arguments, not ${args.length}`);
      return { text: `EXECUTE ${name}(${args.map(sqlLiteral).join(', ')})` };
    },
  };
  registry.set(name, statement);
  return statement;
}

/** Every statement defined so far. */
export function preparedStatements(): Iterable<PreparedStatement<unknown>> {
  return registry.values();
}
