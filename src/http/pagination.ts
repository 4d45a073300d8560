import { z } from 'zod';

export const PAGE_SIZE = 100;

/** Cursors are opaque to clients; inside they are the last key of the previous page. */
export const cursorQuerySchema = z.object({
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'cursor must be a value returned as nextCursor')
    .transform(Number)
    .optional(),
});

export function nextCursor<T>(rows: readonly T[], key: (row: T) => number): string | null {
  const last = rows.at(-1);
  return rows.length === PAGE_SIZE && last !== undefined ? String(key(last)) : null;
}
