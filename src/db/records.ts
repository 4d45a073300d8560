import { type RawBuilder, sql } from 'kysely';

type ScalarType = 'text' | 'bool' | 'int4' | 'int8' | 'timestamptz';
type Scalar = string | number | boolean | Date | null;

/**
 * A list of records as a table: `unnest` of one array a column, the arrays built here from the
 * records, so a write takes its rows as one typed list rather than a dozen positional arrays.
 * Columns come in the order `columns` names them.
 */
export function recordsTable<R extends { readonly [K in keyof R]: Scalar }>(
  records: readonly R[],
  columns: { readonly [K in keyof R]: ScalarType },
  alias: string,
  /** A column numbering the records from 1, in the order given. */
  ordinality?: string,
): RawBuilder<R> {
  const names = Object.keys(columns) as (keyof R & string)[];
  const arrays = names.map((name) => sql`${records.map((record) => record[name])}::${sql.raw(columns[name])}[]`);
  const columnNames = [...names, ...(ordinality ? [ordinality] : [])].map((n) => sql.id(n));
  return sql<R>`unnest(${sql.join(arrays)})${ordinality ? sql` WITH ORDINALITY` : sql``} AS ${sql.id(alias)}(${sql.join(columnNames)})`;
}
