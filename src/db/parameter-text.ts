/** A value the chunk path can send as a statement's parameter. */
export type SqlScalar = string | number | boolean | Date | null;
export type SqlValue = SqlScalar | readonly SqlScalar[];

const DOUBLE_QUOTE_OR_BACKSLASH = /["\\]/;

function scalarText(value: Exclude<SqlScalar, null>): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Date) return value.toISOString();
  if (!Number.isFinite(value)) throw new TypeError(`cannot send ${value} as a parameter`);
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

/**
 * The value in Postgres's text format, which the type the statement declares for the parameter
 * reads (`text[]` an array literal, `bool` true or false); null is SQL NULL. pg's own conversion
 * does the same for arrays one element at a time, escaping every one.
 */
export function parameterText(value: SqlValue): string | null {
  if (value === null) return null;
  if (Array.isArray(value)) return arrayText(value);
  return scalarText(value as Exclude<SqlScalar, null>);
}
