import { decideRevocations } from './coupon-ledger.rules.js';
import { revocationItemSchema } from './coupon-items.js';
import { revocationWork } from './ledger-chunk.work.js';
import { defineLedgerKind } from './ledger.kind.js';

/** Takes back what members hold unused of a coupon (all of it, or a stated amount) into its balance. */
export const couponsRevoke = defineLedgerKind({
  kind: 'coupons.revoke',
  field: 'revocations',
  itemSchema: revocationItemSchema,
  amountRequired: false,
  work: (operation, chunk) => revocationWork(decideRevocations, operation, chunk, revocationItemSchema),
});
