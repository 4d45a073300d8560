import { z } from 'zod';
import { couponIdSchema, operationBase } from '../../contract/ids.js';
import { defineKind } from '../kind.js';
import { decideAllocations } from './coupon-ledger.rules.js';
import { allocationItemSchema } from './coupon-items.js';
import { allocationWork, ledgerClaims, ledgerFile } from './ledger-chunk.work.js';

/** Moves amounts from a master coupon to members, in batch order; an amount is never split. */
export const couponsAllocate = defineKind({
  kind: 'coupons.allocate',
  schema: z.strictObject({
    ...operationBase,
    kind: z.literal('coupons.allocate'),
    couponId: couponIdSchema,
    allocations: z.array(allocationItemSchema).min(1),
  }),
  items: { field: 'allocations', schema: allocationItemSchema },
  itemKey: (item) => item.memberId,
  claims: ledgerClaims,
  // Every item draws on the same balance: the balance after it and a short balance's refusals
  // depend on the items before it.
  ordered: true,
  apply: (operation, chunk) => allocationWork(decideAllocations, operation, chunk, allocationItemSchema),
  file: ledgerFile(true),
});
