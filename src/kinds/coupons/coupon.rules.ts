import type { RejectionReason } from '../../domain/outcomes.js';

export type AllocationMode = 'once' | 'multiple';

export interface CouponState {
  couponId: string;
  enterpriseId: string;
  faceValueCents: number;
  balanceCents: number;
  allocationMode: AllocationMode;
  validFrom: Date;
  validUntil: Date;
  /** For a `once` coupon, the allocation operation that has taken it. */
  allocationOperationId: string | null;
}

/** What one member holds from one coupon: allocated = unused + revoked + spent, always. */
export interface Holding {
  allocatedCents: number;
  revokedCents: number;
  spentCents: number;
  unusedCents: number;
}

export const emptyHolding = (): Holding => ({ allocatedCents: 0, revokedCents: 0, spentCents: 0, unusedCents: 0 });

/** Validity is judged when the chunk is applied, not when the operation was published. */
export function validityProblem(coupon: CouponState, now: Date): RejectionReason | null {
  if (now < coupon.validFrom) return 'coupon_not_yet_valid';
  if (now > coupon.validUntil) return 'coupon_expired';
  return null;
}

/** Whether `operationId` may allocate from the coupon at all (per-item balance checks aside). */
export function allocationProblem(
  coupon: CouponState | undefined,
  enterpriseId: string,
  operationId: string,
  now: Date,
): RejectionReason | null {
  if (!coupon || coupon.enterpriseId !== enterpriseId) return 'unknown_coupon';
  const validity = validityProblem(coupon, now);
  if (validity) return validity;
  if (
    coupon.allocationMode === 'once' &&
    coupon.allocationOperationId !== null &&
    coupon.allocationOperationId !== operationId
  ) {
    return 'coupon_not_allocatable';
  }
  return null;
}

/** What the read API reports: could a new allocation operation draw on this coupon now? */
export function isAllocatable(coupon: CouponState, now: Date): boolean {
  return coupon.balanceCents > 0 && allocationProblem(coupon, coupon.enterpriseId, '\0new', now) === null;
}
