export const PAGE_SIZE = 100;

/** A page of a list, newest or first first, and the cursor of the next one (null at the end). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The page of `rows` as views: a full page has a next one, named by its last row's key. */
export function pageOf<Row, View>(
  rows: readonly Row[],
  key: (row: Row) => string | number,
  view: (row: Row) => View,
  size = PAGE_SIZE,
): Page<View> {
  const last = rows.at(-1);
  return { items: rows.map(view), nextCursor: rows.length === size && last !== undefined ? String(key(last)) : null };
}

export const iso = (value: Date | string) => new Date(value).toISOString();
