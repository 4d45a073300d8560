import { z } from 'zod';
import { decideIssue } from '../../domain/coupons/coupon-issue.rules.js';
import {
  decideAllocations,
  decideRevocations,
  holdsForAnyCoveringBalance,
  type LedgerDecision,
  type LedgerItem,
  type MemberLedgerState,
} from '../../domain/coupons/coupon-ledger.rules.js';
import { parseAmount } from '../../domain/coupons/money.js';
import {
  couponsIssuedBy,
  drawAllocations,
  insertIssuedCoupons,
  loadLedgerMembers,
  lockCoupon,
  lockCoupons,
  readCoupon,
  associatedMembers,
  toAssociatedMembers,
  toCouponStates,
  toLedgerMembers,
  toCouponAndClock,
  type CouponRead,
  writeLedgerChanges,
} from '../../db/coupons.repository.js';
import {
  allocationItemSchema,
  couponIdSchema,
  couponSpecSchema,
  revocationItemSchema,
} from '../../producers/contract.js';
import type { ChunkWork, ReadRows } from '../../db/chunk-transaction.js';
import type { PlannedChunk } from '../../domain/operations/chunk-plan.js';
import {
  type ChunkApplier,
  enterpriseOf,
  type OperationIdentity,
  parseItems,
  parseParams,
  repeatsOf,
} from './chunk-applier.js';

export const applyCouponIssue: ChunkApplier = (operation, chunk) => {
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
  const existing = lockCoupons.call(ids);
  const seen = couponsIssuedBy.call(operation.operation_id, ids);
  return {
    reads: [existing, seen],
    decide(rows) {
      const decision = decideIssue(
        enterpriseId,
        coupons,
        chunk.offset,
        toCouponStates(rows(existing)),
        new Set(rows(seen).map((r) => r.coupon_id)),
        repeatsOf(chunk),
      );
      return {
        writes: insertIssuedCoupons(operation.operation_id, enterpriseId, decision.issued),
        outcome: { itemCount: coupons.length, counts: decision.counts, rejections: decision.rejections },
      };
    },
  };
};

const couponParams = z.object({ couponId: couponIdSchema });

/** What both ways of applying a ledger chunk start from: its coupon, its items and its members' state. */
function ledgerChunk(
  itemSchema: typeof allocationItemSchema | typeof revocationItemSchema,
  operation: OperationIdentity,
  chunk: PlannedChunk<unknown>,
) {
  const enterpriseId = enterpriseOf(operation);
  const { couponId } = parseParams(couponParams, operation);
  const items: LedgerItem[] = parseItems(itemSchema, chunk).map((item, i) => ({
    position: chunk.offset + i,
    memberId: item.memberId,
    ...(item.amount !== undefined && { amountCents: parseAmount(item.amount) }),
  }));
  const memberIds = items.map((i) => i.memberId);
  /** The rules applied to the coupon and clock `couponRead` found and to the members' state. */
  const judge = (
    decide: typeof decideAllocations,
    couponRead: CouponRead,
    rows: ReadRows,
    members: ReadonlyMap<string, MemberLedgerState>,
  ) => {
    const { coupon, now } = toCouponAndClock(rows(couponRead));
    const decision = decide(
      { operationId: operation.operation_id, enterpriseId, now, repeats: repeatsOf(chunk) },
      coupon,
      items,
      chunk.offset,
      members,
    );
    return { coupon, decision };
  };
  const outcome = (decision: LedgerDecision) => ({
    itemCount: items.length,
    counts: decision.counts,
    rejections: decision.rejections.map((r) => ({ ...r, couponId })),
  });
  return { enterpriseId, couponId, memberIds, judge, outcome };
}

type LedgerChunk = ReturnType<typeof ledgerChunk>;

function lockingLedgerWork(ledger: LedgerChunk, decide: typeof decideAllocations, operationId: string): ChunkWork {
  const { enterpriseId, couponId, memberIds, judge, outcome } = ledger;
  const members = loadLedgerMembers(operationId, enterpriseId, couponId, memberIds);
  // Coupon first, then holdings: every ledger writer takes locks in this order. The holdings are
  // read by a statement of their own, after the lock is granted, so they are the latest committed.
  // The database clock decides validity, so every worker judges expiry by the same time.
  const locked = lockCoupon(couponId);
  return {
    reads: [locked, members],
    decide(rows) {
      const { decision } = judge(decide, locked, rows, toLedgerMembers(rows(members)));
      return {
        writes: writeLedgerChanges(operationId, couponId, enterpriseId, decision),
        outcome: outcome(decision),
      };
    },
  };
}

/**
 * Allocations decided from the coupon as read without its lock, and drawn from it with the
 * writes: the chunks of one coupon then queue on its row only for the length of their commit,
 * not while their worker decides. When the decision depended on the balance it read, or the
 * draw finds the balance no longer covers it, the chunk runs again under the coupon's lock.
 * Holdings are not read (the draw adds to them), nor this operation's earlier history: a member
 * repeated from another chunk collides on the history's unique key, and that too sends the chunk
 * the locking way, which rejects the repeat.
 */
export const applyCouponAllocate: ChunkApplier = (operation, chunk) => {
  const ledger = ledgerChunk(allocationItemSchema, operation, chunk);
  const { enterpriseId, couponId, memberIds, judge, outcome } = ledger;
  const read = readCoupon(couponId);
  const associated = associatedMembers(enterpriseId, memberIds);
  return {
    reads: [read, associated],
    decide(rows) {
      const members = toAssociatedMembers(rows(associated));
      const { coupon, decision } = judge(decideAllocations, read, rows, members);
      if (!holdsForAnyCoveringBalance(coupon, decision)) return null;
      return {
        writes: drawAllocations(
          operation.operation_id,
          couponId,
          enterpriseId,
          coupon?.allocationOperationId ?? null,
          decision.entries,
        ),
        outcome: outcome(decision),
      };
    },
    fallback: () => lockingLedgerWork(ledger, decideAllocations, operation.operation_id),
  };
};

export const applyCouponRevoke: ChunkApplier = (operation, chunk) =>
  lockingLedgerWork(ledgerChunk(revocationItemSchema, operation, chunk), decideRevocations, operation.operation_id);
