/** Why an item was refused, one by one; the rest of its batch goes on. */
export const REJECTION_REASONS = [
  'not_a_member',
  'duplicate_item',
  'associated_elsewhere',
  'unknown_coupon',
  'coupon_exists',
  'coupon_expired',
  'coupon_not_yet_valid',
  'coupon_not_allocatable',
  'insufficient_balance',
  'nothing_to_revoke',
  'amount_exceeds_recoverable',
  'package_exists',
  'record_conflict',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export type AppliedOutcome = 'applied' | 'unchanged' | 'superseded';

export interface ItemRef {
  position: number;
  memberId: string;
}

export interface Rejection {
  position: number;
  /** The member the item names, or null for items that name none (coupons being issued). */
  memberId: string | null;
  couponId?: string;
  packageId?: string;
  recordId?: string;
  reason: RejectionReason;
}

export interface OutcomeCounts {
  applied: number;
  unchanged: number;
  superseded: number;
  rejected: number;
}

/** What applying one chunk came to. */
export interface ChunkOutcome {
  /** Items of the batch this chunk accounts for (progress). */
  itemCount: number;
  counts: OutcomeCounts;
  /** Items rejected one by one; recorded in the chunk's transaction. */
  rejections: readonly Rejection[];
}

export const zeroCounts = (): OutcomeCounts => ({ applied: 0, unchanged: 0, superseded: 0, rejected: 0 });

export function countOutcomes(outcomes: readonly AppliedOutcome[], rejections: number): OutcomeCounts {
  const counts = zeroCounts();
  for (const outcome of outcomes) counts[outcome] += 1;
  counts.rejected = rejections;
  return counts;
}

const NONE: ReadonlySet<never> = new Set();

/**
 * Numbers a chunk's items by their position in the batch and splits off repeats: the first
 * occurrence of a member is applied, every later one is rejected as `duplicate_item`. Positions
 * the publisher marked as repeats of an item in another chunk (`repeats`), and members already
 * handled by another chunk of the same operation (`seenInOperation`), count as repeats too.
 */
export function separateDuplicates(
  memberIds: readonly string[],
  offset: number,
  seenInOperation: ReadonlySet<string> = NONE,
  repeats: ReadonlySet<number> = NONE,
): { unique: ItemRef[]; duplicates: Rejection[] } {
  const seen = new Set<string>();
  const unique: ItemRef[] = [];
  const duplicates: Rejection[] = [];
  memberIds.forEach((memberId, i) => {
    const position = offset + i;
    if (seen.has(memberId) || seenInOperation.has(memberId) || repeats.has(position)) {
      duplicates.push({ position, memberId, reason: 'duplicate_item' });
    } else {
      seen.add(memberId);
      unique.push({ position, memberId });
    }
  });
  return { unique, duplicates };
}

/** Rejected items by reason code, for one chunk's report. */
export function countByReason(rejections: readonly Rejection[]): Partial<Record<RejectionReason, number>> {
  const byReason: Partial<Record<RejectionReason, number>> = {};
  for (const { reason } of rejections) byReason[reason] = (byReason[reason] ?? 0) + 1;
  return byReason;
}
