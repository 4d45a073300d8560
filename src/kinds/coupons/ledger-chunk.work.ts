import { z } from 'zod';
import { couponIdSchema } from '../../contract/ids.js';
import type { PlannedChunk } from '../../domain/chunk-plan.js';
import { parseAmount } from '../../domain/money.js';
import { reads, writes } from '../../domain/ordering/claims.js';
import type { KindClaims, OperationHeader } from '../../domain/ordering/operation-claims.js';
import { type ChunkWork, chunkWork } from '../../operations/chunk-work.js';
import {
  enterpriseOf,
  type ItemFileFormat,
  historyScope,
  type OperationIdentity,
  parseItems,
  parseParams,
  repeatsOf,
} from '../kind.js';
import {
  type decideAllocations,
  holdsForAnyCoveringBalance,
  type LedgerDecision,
  type LedgerItem,
  type MemberLedgerState,
} from './coupon-ledger.rules.js';
import type { allocationItemSchema, revocationItemSchema } from './coupon-items.js';
import {
  associatedMembers,
  type CouponRead,
  drawAllocations,
  loadLedgerMembers,
  lockCoupon,
  readCoupon,
  toAssociatedMembers,
  toCouponAndClock,
  toLedgerMembers,
  writeLedgerChanges,
} from './ledger.sql.js';

export const couponParams = z.object({ couponId: couponIdSchema });

const couponOf = (h: OperationHeader) => `${h.enterpriseId}/coupon/${String(h.params.couponId)}`;

/** Allocation and revocation write their coupon (its balance and holdings) and read each member. */
export const ledgerClaims: KindClaims<{ memberId: string }> = {
  operation: (h) => [writes(couponOf(h))],
  item: (h, item) => [reads(`${h.enterpriseId}/member/${item.memberId}`)],
  everyItem: (h) => [reads(`${h.enterpriseId}/member/*`)],
};

/** A file of allocations or revocations: `memberId,amount` (the amount optional for a revocation). */
export const ledgerFile = (amountRequired: boolean): ItemFileFormat => ({
  columns: amountRequired ? 'memberId,amount' : 'memberId[,amount]',
  rejectedBy: ['memberId', 'couponId'],
  fromCsv: ([memberId = '', amount]: string[]) =>
    amountRequired ? { memberId, amount: amount ?? '' } : amount ? { memberId, amount } : { memberId },
});

type Decide = typeof decideAllocations;

/** What both ways of applying a ledger chunk start from: its coupon, its items and its members' state. */
function ledgerChunk(
  itemSchema: typeof allocationItemSchema | typeof revocationItemSchema,
  operation: OperationIdentity,
  chunk: PlannedChunk<unknown>,
) {
  const enterpriseId = enterpriseOf(operation);
  const { couponId } = parseParams(couponParams, operation);
  const scope = { ...historyScope(operation), couponId, enterpriseId };
  const items: LedgerItem[] = parseItems(itemSchema, chunk).map((item, i) => ({
    position: chunk.offset + i,
    memberId: item.memberId,
    ...(item.amount !== undefined && { amountCents: parseAmount(item.amount) }),
  }));
  const memberIds = items.map((i) => i.memberId);
  /** The rules applied to the coupon and clock a coupon read found and to the members' state. */
  const judge = (
    decide: Decide,
    couponRows: Parameters<typeof toCouponAndClock>[0],
    members: ReadonlyMap<string, MemberLedgerState>,
  ) => {
    const { coupon, now } = toCouponAndClock(couponRows);
    const ctx = { operationId: operation.operation_id, enterpriseId, now, repeats: repeatsOf(chunk) };
    return { coupon, decision: decide(ctx, coupon, items, chunk.offset, members) };
  };
  const outcome = (decision: LedgerDecision) => ({
    itemCount: items.length,
    counts: decision.counts,
    rejections: decision.rejections.map((r) => ({ ...r, couponId })),
  });
  return { scope, memberIds, judge, outcome };
}

type LedgerChunk = ReturnType<typeof ledgerChunk>;

/**
 * A ledger chunk the locking way: coupon first, then holdings, the order every ledger writer
 * takes. The holdings are read by a statement of their own, after the lock is granted, so they are
 * the latest committed. The database clock decides validity, so every worker judges expiry alike.
 */
function lockingLedgerWork(ledger: LedgerChunk, decide: Decide): ChunkWork {
  const { scope, memberIds, judge, outcome } = ledger;
  return chunkWork({
    reads: [
      lockCoupon(scope.couponId),
      loadLedgerMembers(scope, scope.enterpriseId, scope.couponId, memberIds),
    ] as const,
    decide([coupon, members]) {
      const { decision } = judge(decide, coupon, toLedgerMembers(members));
      return { writes: writeLedgerChanges(scope, decision), outcome: outcome(decision) };
    },
  });
}

/** Revocations: the coupon locked, the holdings read, decided and written. */
export function revocationWork(
  decide: Decide,
  operation: OperationIdentity,
  chunk: PlannedChunk<unknown>,
  itemSchema: typeof revocationItemSchema,
): ChunkWork {
  return lockingLedgerWork(ledgerChunk(itemSchema, operation, chunk), decide);
}

/**
 * Allocations decided from the coupon as read without its lock, and drawn from it with the
 * writes: the coupon's row is held only for the length of the commit. When the decision depended
 * on the balance it read, or the draw finds the balance no longer covers it, the chunk runs again
 * under the coupon's lock. Holdings are not read (the draw adds to them), nor this operation's
 * earlier history: a member repeated from another chunk collides on the history's unique key, and
 * that too sends the chunk the locking way, which rejects the repeat.
 */
export function allocationWork(
  decide: Decide,
  operation: OperationIdentity,
  chunk: PlannedChunk<unknown>,
  itemSchema: typeof allocationItemSchema,
): ChunkWork {
  const ledger = ledgerChunk(itemSchema, operation, chunk);
  const { scope, memberIds, judge, outcome } = ledger;
  const read: CouponRead = readCoupon(scope.couponId);
  return chunkWork({
    reads: [read, associatedMembers(scope.enterpriseId, memberIds)] as const,
    decide([couponRows, memberRows]) {
      const { coupon, decision } = judge(decide, couponRows, toAssociatedMembers(memberRows));
      if (!holdsForAnyCoveringBalance(coupon, decision)) return null;
      return {
        writes: drawAllocations(scope, coupon?.allocationOperationId ?? null, decision.entries),
        outcome: outcome(decision),
      };
    },
    fallback: () => lockingLedgerWork(ledger, decide),
  });
}
