import { z } from 'zod';
import { couponIdSchema, operationBase } from '../../contract/ids.js';
import { defineKind } from '../kind.js';
import { decideRevocations } from './coupon-ledger.rules.js';
import { revocationItemSchema } from './coupon-items.js';
import { ledgerClaims, ledgerFile, revocationWork } from './ledger-chunk.work.js';

/** Takes back what members hold unused of a coupon (all of it, or a stated amount) into its balance. */
export const couponsRevoke = defineKind({
  kind: 'coupons.revoke',
  schema: z.strictObject({
    ...operationBase,
    kind: z.literal('coupons.revoke'),
    couponId: couponIdSchema,
    revocations: z.array(revocationItemSchema).min(1),
  }),
  items: { field: 'revocations', schema: revocationItemSchema },
  itemKey: (item) => item.memberId,
  claims: ledgerClaims,
  // The coupon's balance after each item, in its history, follows batch order.
  ordered: true,
  apply: (operation, chunk) => revocationWork(decideRevocations, operation, chunk, revocationItemSchema),
  file: ledgerFile(false),
});
