/** A value the chunk path can send as a statement's parameter. */
export type SqlScalar = string | number | boolean | Date | null;
export type SqlValue = SqlScalar | readonly SqlScalar[];

/** Whether an array element must be escaped inside its double quotes. */
const needsEscaping = (text: string) => text.includes('"') || text.includes('\\');

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
  return needsEscaping(text) ? `"${text.replace(/["\\]/g, '\\$&')}"` : `"${text}"`;
}

function arrayText(values: readonly SqlScalar[]): string {
  if (values.length === 0) return '{}';
  let strings = true;
  let bare = true;
  for (const value of values) {
    if (typeof value === 'string') {
      bare = false;
      if (strings && needsEscaping(value)) strings = false;
    } else {
      strings = false;
      if (typeof value === 'number' ? !Number.isFinite(value) : typeof value !== 'boolean') bare = false;
    }
  }
  // The common cases cost one join: a chunk's ids and codes, which need no escaping, and its
  // flags and sequences, which join as they are.
  if (strings) return `{"${values.join('","')}"}`;
  if (bare) return `{${values.join(',')}}`;
  return `{${values.map(arrayElement).join(',')}}`;
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
