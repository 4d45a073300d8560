import { type OutcomeCounts, type Rejection, type RejectionReason, separateDuplicates } from '../../domain/outcomes.js';
import { allocationProblem, type CouponState, emptyHolding, type Holding } from './coupon.rules.js';

export interface LedgerItem {
  position: number;
  memberId: string;
  /** Absent on a revocation: everything the member still has unused. */
  amountCents?: number;
}

export interface MemberLedgerState {
  /** Associated with the coupon's enterprise right now. */
  associated: boolean;
  holding: Holding | null;
  /** Already has a history row from this operation (a repeat in another chunk). */
  seenInOperation: boolean;
}

export interface LedgerEntry {
  position: number;
  memberId: string;
  action: 'allocate' | 'revoke';
  amountCents: number;
  couponBalanceAfterCents: number;
  memberBalanceAfterCents: number;
}

export interface LedgerDecision {
  entries: LedgerEntry[];
  rejections: Rejection[];
  /** The coupon as it must be stored, or null when nothing about it changes. */
  coupon: CouponState | null;
  /** Every holding that changed, as it must be stored. */
  holdings: Map<string, Holding>;
  counts: OutcomeCounts;
}

export interface LedgerContext {
  operationId: string;
  enterpriseId: string;
  now: Date;
  /** Positions of the chunk's items that repeat an item of another chunk. */
  repeats?: ReadonlySet<number>;
}

function prepare(
  ctx: LedgerContext,
  items: readonly LedgerItem[],
  offset: number,
  members: ReadonlyMap<string, MemberLedgerState>,
) {
  const seen = new Set([...members].filter(([, m]) => m.seenInOperation).map(([id]) => id));
  const { unique, duplicates } = separateDuplicates(
    items.map((i) => i.memberId),
    offset,
    seen,
    ctx.repeats,
  );
  const byPosition = new Map(items.map((item, i) => [offset + i, item]));
  return { unique: unique.map((u) => byPosition.get(u.position)!), rejections: [...duplicates] as Rejection[] };
}

function finish(
  entries: LedgerEntry[],
  rejections: Rejection[],
  coupon: CouponState | null,
  holdings: Map<string, Holding>,
): LedgerDecision {
  rejections.sort((a, b) => a.position - b.position);
  return {
    entries,
    rejections,
    coupon,
    holdings,
    counts: { applied: entries.length, unchanged: 0, superseded: 0, rejected: rejections.length },
  };
}

/** Every item not already refused refused for the same reason: the coupon itself is the problem. */
function refuseEvery(unique: readonly LedgerItem[], rejections: Rejection[], reason: RejectionReason): LedgerDecision {
  for (const item of unique) rejections.push({ position: item.position, memberId: item.memberId, reason });
  return finish([], rejections, null, new Map());
}

/**
 * Allocates item by item, in batch order, from the coupon's balance. An item that cannot be
 * honoured is rejected alone; an amount is never split and the balance never goes below zero.
 */
export function decideAllocations(
  ctx: LedgerContext,
  coupon: CouponState | undefined,
  items: readonly LedgerItem[],
  offset: number,
  members: ReadonlyMap<string, MemberLedgerState>,
): LedgerDecision {
  const { unique, rejections } = prepare(ctx, items, offset, members);
  const problem = allocationProblem(coupon, ctx.enterpriseId, ctx.operationId, ctx.now);
  if (problem || !coupon) return refuseEvery(unique, rejections, problem ?? 'unknown_coupon');
  // The first chunk of a `once` coupon's operation takes the coupon for that operation.
  const next: CouponState = {
    ...coupon,
    allocationOperationId: coupon.allocationMode === 'once' ? ctx.operationId : coupon.allocationOperationId,
  };
  const holdings = new Map<string, Holding>();
  const entries: LedgerEntry[] = [];
  for (const item of unique) {
    const member = members.get(item.memberId);
    const amount = item.amountCents ?? 0;
    if (!member?.associated) {
      rejections.push({ position: item.position, memberId: item.memberId, reason: 'not_a_member' });
    } else if (amount <= 0 || amount > next.balanceCents) {
      rejections.push({ position: item.position, memberId: item.memberId, reason: 'insufficient_balance' });
    } else {
      const before = holdings.get(item.memberId) ?? member.holding ?? emptyHolding();
      const after = {
        ...before,
        allocatedCents: before.allocatedCents + amount,
        unusedCents: before.unusedCents + amount,
      };
      next.balanceCents -= amount;
      holdings.set(item.memberId, after);
      entries.push({
        position: item.position,
        memberId: item.memberId,
        action: 'allocate',
        amountCents: amount,
        couponBalanceAfterCents: next.balanceCents,
        memberBalanceAfterCents: after.unusedCents,
      });
    }
  }
  const changed = entries.length > 0 || next.allocationOperationId !== coupon.allocationOperationId;
  return finish(entries, rejections, changed ? next : null, holdings);
}

/**
 * Takes back unused allocated amounts (all of it when no amount is given) and returns them to
 * the coupon's balance. Expiry does not stop a revocation: it only moves money back to the master.
 */
export function decideRevocations(
  ctx: LedgerContext,
  coupon: CouponState | undefined,
  items: readonly LedgerItem[],
  offset: number,
  members: ReadonlyMap<string, MemberLedgerState>,
): LedgerDecision {
  const { unique, rejections } = prepare(ctx, items, offset, members);
  if (!coupon || coupon.enterpriseId !== ctx.enterpriseId) return refuseEvery(unique, rejections, 'unknown_coupon');
  const next: CouponState = { ...coupon };
  const holdings = new Map<string, Holding>();
  const entries: LedgerEntry[] = [];
  for (const item of unique) {
    const member = members.get(item.memberId);
    const before = holdings.get(item.memberId) ?? member?.holding ?? null;
    if (!before && !member?.associated) {
      rejections.push({ position: item.position, memberId: item.memberId, reason: 'not_a_member' });
      continue;
    }
    if (!before || before.unusedCents === 0) {
      rejections.push({ position: item.position, memberId: item.memberId, reason: 'nothing_to_revoke' });
      continue;
    }
    const amount = item.amountCents ?? before.unusedCents;
    if (amount > before.unusedCents) {
      rejections.push({ position: item.position, memberId: item.memberId, reason: 'amount_exceeds_recoverable' });
      continue;
    }
    const after = { ...before, unusedCents: before.unusedCents - amount, revokedCents: before.revokedCents + amount };
    next.balanceCents += amount;
    holdings.set(item.memberId, after);
    entries.push({
      position: item.position,
      memberId: item.memberId,
      action: 'revoke',
      amountCents: amount,
      couponBalanceAfterCents: next.balanceCents,
      memberBalanceAfterCents: after.unusedCents,
    });
  }
  return finish(entries, rejections, entries.length > 0 ? next : null, holdings);
}

/**
 * Whether an allocation decision made from a coupon read without its lock stands whatever the
 * balance has become by the time it draws, provided the balance still covers what it draws: no
 * item was refused for the balance it read, and it does not take a `once` coupon for its operation.
 */
export function holdsForAnyCoveringBalance(coupon: CouponState | undefined, decision: LedgerDecision): boolean {
  if (decision.rejections.some((r) => r.reason === 'insufficient_balance')) return false;
  return decision.coupon === null || decision.coupon.allocationOperationId === (coupon?.allocationOperationId ?? null);
}
