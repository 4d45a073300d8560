import { z } from 'zod';
import {
  memberIdSchema,
  moneySchema,
  productIdSchema,
  quantitySchema,
  recordIdSchema,
  timestampSchema,
} from '../../contract/ids.js';

/** A usage record from a metering system; `amount` is the pay-as-you-go price of all of it. */
export const usageRecordSchema = z.strictObject({
  recordId: recordIdSchema,
  memberId: memberIdSchema,
  product: productIdSchema,
  quantity: quantitySchema,
  amount: moneySchema,
  usedAt: timestampSchema,
});
export type UsageRecord = z.infer<typeof usageRecordSchema>;
