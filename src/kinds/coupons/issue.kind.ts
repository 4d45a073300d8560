import { z } from 'zod';
import { operationBase } from '../../contract/ids.js';
import { parseAmount } from '../../domain/money.js';
import { writes } from '../../domain/ordering/claims.js';
import { chunkWork } from '../../operations/chunk-work.js';
import { defineKind, enterpriseOf, historyScope, parseItems, repeatsOf } from '../kind.js';
import { decideIssue } from './coupon-issue.rules.js';
import { couponSpecSchema } from './coupon-items.js';
import { couponsIssuedBy, insertIssuedCoupons, lockCoupons, toCouponStates } from './coupons.sql.js';

/** Loads master coupons; the same coupon on the same terms again is `unchanged`, other terms `coupon_exists`. */
export const couponsIssue = defineKind({
  kind: 'coupons.issue',
  schema: z.strictObject({
    ...operationBase,
    kind: z.literal('coupons.issue'),
    coupons: z.array(couponSpecSchema).min(1),
  }),
  items: { field: 'coupons', schema: couponSpecSchema },
  itemKey: (coupon) => coupon.couponId,
  // A coupon id is global (`coupon/<c>`: `coupon_exists` across enterprises); `<E>/coupon/<c>` is
  // what E's allocations and revocations of it write. Settlement pays from the oldest of equal
  // coupons first (`issued_seq`): E's issues apply in publication order, chunks in batch order.
  claims: {
    operation: (h) => [writes(`${h.enterpriseId}/coupon-issue-order`)],
    item: (h, coupon) => [writes(`coupon/${coupon.couponId}`), writes(`${h.enterpriseId}/coupon/${coupon.couponId}`)],
    everyItem: (h) => [writes('coupon/*'), writes(`${h.enterpriseId}/coupon/*`)],
  },
  ordered: true,
  apply(operation, chunk) {
    const enterpriseId = enterpriseOf(operation);
    const coupons = parseItems(couponSpecSchema, chunk).map((c) => ({
      couponId: c.couponId,
      faceValueCents: parseAmount(c.faceValue),
      allocationMode: c.allocationMode,
      validFrom: new Date(c.validFrom),
      validUntil: new Date(c.validUntil),
      products: c.products,
    }));
    const ids = coupons.map((c) => c.couponId);
    return chunkWork({
      reads: [lockCoupons(ids), couponsIssuedBy(historyScope(operation), ids)] as const,
      decide([existing, seen]) {
        const decision = decideIssue(
          enterpriseId,
          coupons,
          chunk.offset,
          toCouponStates(existing),
          new Set(seen.map((r) => r.coupon_id)),
          repeatsOf(chunk),
        );
        return {
          writes: insertIssuedCoupons(historyScope(operation), enterpriseId, decision.issued),
          outcome: { itemCount: coupons.length, counts: decision.counts, rejections: decision.rejections },
        };
      },
    });
  },
  file: {
    columns: 'couponId,faceValue,allocationMode,validFrom,validUntil,products (products separated by ;)',
    rejectedBy: ['memberId', 'couponId'],
    fromCsv: ([couponId, faceValue, allocationMode, validFrom, validUntil, products]) => ({
      couponId,
      faceValue,
      allocationMode,
      validFrom,
      validUntil,
      products: (products ?? '').split(/[;|]/).filter(Boolean),
    }),
  },
});
