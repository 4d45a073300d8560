import type { OperationKind } from '../../producers/contract.js';

/**
 * What identifies an item within its batch: a later item with the same key is a repeat
 * (`duplicate_item`), and only the first is applied.
 */
export const ITEM_KEY: { [K in OperationKind]: (item: any) => string } = {
  'members.associate': String,
  'members.dissociate': String,
  'sharing.set': String,
  'sharing.set-default': String,
  'coupons.issue': (coupon: { couponId: string }) => coupon.couponId,
  'coupons.allocate': (item: { memberId: string }) => item.memberId,
  'coupons.revoke': (item: { memberId: string }) => item.memberId,
};

/**
 * Kinds whose chunks apply one after another, in batch order: every item draws on the same
 * coupon, so the balance an item meets, the history's balance after it and which items a short
 * balance refuses all depend on the items before it.
 */
export const ORDERED_KINDS: ReadonlySet<OperationKind> = new Set(['coupons.allocate', 'coupons.revoke']);
