import type { OutcomeCounts, Rejection } from '../../domain/outcomes.js';
import { separateDuplicates } from '../../domain/outcomes.js';
import type { CouponState } from './coupon.rules.js';

export interface CouponToIssue {
  couponId: string;
  faceValueCents: number;
  allocationMode: 'once' | 'multiple';
  validFrom: Date;
  validUntil: Date;
  products: string[];
}

export interface IssuedCoupon extends CouponToIssue {
  position: number;
  outcome: 'applied' | 'unchanged';
}

export interface IssueDecision {
  issued: IssuedCoupon[];
  rejections: Rejection[];
  counts: OutcomeCounts;
}

const sameTerms = (a: CouponToIssue, b: CouponState & { products: string[] }) =>
  a.faceValueCents === b.faceValueCents &&
  a.allocationMode === b.allocationMode &&
  a.validFrom.getTime() === b.validFrom.getTime() &&
  a.validUntil.getTime() === b.validUntil.getTime() &&
  a.products.join('\n') === b.products.join('\n');

/**
 * Loads coupons into the master account. Issuing a coupon that already exists on the same terms
 * is `unchanged`; any other reuse of its id is refused (`coupon_exists`), never an overwrite.
 */
export function decideIssue(
  enterpriseId: string,
  coupons: readonly CouponToIssue[],
  offset: number,
  existing: ReadonlyMap<string, CouponState & { products: string[] }>,
  seenInOperation: ReadonlySet<string>,
  repeats?: ReadonlySet<number>,
): IssueDecision {
  const { unique, duplicates } = separateDuplicates(
    coupons.map((c) => c.couponId),
    offset,
    seenInOperation,
    repeats,
  );
  const rejections: Rejection[] = duplicates.map((d) => ({
    position: d.position,
    memberId: null,
    couponId: d.memberId!,
    reason: d.reason,
  }));
  const issued: IssuedCoupon[] = [];
  for (const { position } of unique) {
    const coupon = coupons[position - offset]!;
    const current = existing.get(coupon.couponId);
    if (!current) issued.push({ ...coupon, position, outcome: 'applied' });
    else if (current.enterpriseId === enterpriseId && sameTerms(coupon, current))
      issued.push({ ...coupon, position, outcome: 'unchanged' });
    else rejections.push({ position, memberId: null, couponId: coupon.couponId, reason: 'coupon_exists' });
  }
  rejections.sort((a, b) => a.position - b.position);
  const applied = issued.filter((c) => c.outcome === 'applied').length;
  return {
    issued,
    rejections,
    counts: { applied, unchanged: issued.length - applied, superseded: 0, rejected: rejections.length },
  };
}
