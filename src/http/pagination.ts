import { z } from 'zod';

/** Cursors are opaque to clients; inside they are the last key of the previous page. */
export const cursorQuerySchema = z.object({
  cursor: z
    .string()
    .regex(/^\d{1,18}$/, 'cursor must be a value returned as nextCursor')
    .transform(Number)
    .optional(),
});
