import { z } from 'zod';

const INT4_MAX = 2 ** 31 - 1;

/** A cursor that is a number: digits only, no larger than the column it pages over can hold. */
const numericCursor = (max: number) =>
  z.object({
    cursor: z
      .string()
      .regex(/^\d{1,16}$/, 'cursor must be a value returned as nextCursor')
      .transform(Number)
      .refine((n) => n <= max, 'cursor must be a value returned as nextCursor')
      .optional(),
  });

/** Cursors are opaque to clients; inside they are the last key of the previous page: a bigserial row id. */
export const cursorQuerySchema = numericCursor(Number.MAX_SAFE_INTEGER);

/** A cursor over an operation's item positions (`integer`). */
export const positionCursorQuerySchema = numericCursor(INT4_MAX);
