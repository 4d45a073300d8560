import pg from 'pg';

/** A value the chunk path can write into a statement as a literal. */
export type SqlScalar = string | number | boolean | Date | null;
export type SqlValue = SqlScalar | readonly SqlScalar[];

const QUOTE_OR_BACKSLASH = /['\\]/;
const DOUBLE_QUOTE_OR_BACKSLASH = /["\\]/;

function scalarText(value: Exclude<SqlScalar, null>): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) return value.toISOString();
  if (!Number.isFinite(value)) throw new TypeError(`cannot write ${value} as an SQL literal`);
  return String(value);
}

// Text and date elements are always double-quoted, so that no element (an empty string, one that
// reads NULL, one with a comma, brace or space) can change the array's shape. Numbers and
// booleans cannot: they go bare, which spares a chunk's flag and sequence arrays a regex each.
function arrayElement(value: SqlScalar): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number' || typeof value === 'boolean') return scalarText(value);
  const text = scalarText(value);
  return DOUBLE_QUOTE_OR_BACKSLASH.test(text) ? `"${text.replace(/["\\]/g, '\\$&')}"` : `"${text}"`;
}

function arrayText(values: readonly SqlScalar[]): string {
  // The common case, a chunk's ids, costs one join and one scan: no element needs escaping.
  if (values.every((v) => typeof v === 'string') && !DOUBLE_QUOTE_OR_BACKSLASH.test(values.join('')))
    return values.length === 0 ? '{}' : `{"${values.join('","')}"}`;
  let text = '{';
  for (let i = 0; i < values.length; i += 1) text += (i === 0 ? '' : ',') + arrayElement(values[i]!);
  return `${text}}`;
}

/** Quoted as pg's `escapeLiteral` quotes, without its character-by-character copy when nothing needs escaping. */
function quoted(text: string): string {
  return QUOTE_OR_BACKSLASH.test(text) ? pg.escapeLiteral(text) : `'${text}'`;
}

/**
 * The value as an SQL literal, for the statements the chunk path sends several to a query
 * (which the simple query protocol cannot bind parameters to). The statement's declared
 * parameter types give the literal its type.
 */
export function sqlLiteral(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number' || typeof value === 'boolean') return scalarText(value);
  if (Array.isArray(value)) return quoted(arrayText(value));
  return quoted(scalarText(value as Exclude<SqlScalar, null>));
}
