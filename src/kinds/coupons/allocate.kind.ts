import { decideAllocations } from './coupon-ledger.rules.js';
import { allocationItemSchema } from './coupon-items.js';
import { allocationWork } from './ledger-chunk.work.js';
import { defineLedgerKind } from './ledger.kind.js';

/** Moves amounts from a master coupon to members, in batch order; an amount is never split. */
export const couponsAllocate = defineLedgerKind({
  kind: 'coupons.allocate',
  field: 'allocations',
  itemSchema: allocationItemSchema,
  amountRequired: true,
  work: (operation, chunk) => allocationWork(decideAllocations, operation, chunk, allocationItemSchema),
});
