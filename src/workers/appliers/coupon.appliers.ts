import { z } from 'zod';
import { decideIssue } from '../../domain/coupons/coupon-issue.rules.js';
import { decideAllocations, decideRevocations, type LedgerItem } from '../../domain/coupons/coupon-ledger.rules.js';
import { parseAmount } from '../../domain/coupons/money.js';
import {
  couponsIssuedBy,
  insertIssuedCoupons,
  loadLedgerMembers,
  lockCoupon,
  lockCoupons,
  toCouponStates,
  toLedgerMembers,
  toLockedCoupon,
  writeLedgerChanges,
} from '../../db/coupons.repository.js';
import {
  allocationItemSchema,
  couponIdSchema,
  couponSpecSchema,
  revocationItemSchema,
} from '../../producers/contract.js';
import { type ChunkApplier, enterpriseOf, parseItems, parseParams } from './chunk-applier.js';

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
      );
      return {
        writes: insertIssuedCoupons(operation.operation_id, enterpriseId, decision.issued),
        outcome: { itemCount: coupons.length, counts: decision.counts, rejections: decision.rejections },
      };
    },
  };
};

const couponParams = z.object({ couponId: couponIdSchema });

function ledgerApplier(
  itemSchema: typeof allocationItemSchema | typeof revocationItemSchema,
  decide: typeof decideAllocations,
): ChunkApplier {
  return (operation, chunk) => {
    const enterpriseId = enterpriseOf(operation);
    const { couponId } = parseParams(couponParams, operation);
    const items: LedgerItem[] = parseItems(itemSchema, chunk).map((item, i) => ({
      position: chunk.offset + i,
      memberId: item.memberId,
      ...(item.amount !== undefined && { amountCents: parseAmount(item.amount) }),
    }));
    // Coupon first, then holdings: every ledger writer takes locks in this order. The holdings are
    // read by a statement of their own, after the lock is granted, so they are the latest committed.
    // The database clock decides validity, so every worker judges expiry by the same time.
    const locked = lockCoupon(couponId);
    const members = loadLedgerMembers(
      operation.operation_id,
      enterpriseId,
      couponId,
      items.map((i) => i.memberId),
    );
    return {
      reads: [locked, members],
      decide(rows) {
        const { coupon, now } = toLockedCoupon(rows(locked));
        const decision = decide(
          { operationId: operation.operation_id, enterpriseId, now },
          coupon,
          items,
          chunk.offset,
          toLedgerMembers(rows(members)),
        );
        return {
          writes: writeLedgerChanges(operation.operation_id, couponId, enterpriseId, decision),
          outcome: {
            itemCount: items.length,
            counts: decision.counts,
            rejections: decision.rejections.map((r) => ({ ...r, couponId })),
          },
        };
      },
    };
  };
}

export const applyCouponAllocate = ledgerApplier(allocationItemSchema, decideAllocations);
export const applyCouponRevoke = ledgerApplier(revocationItemSchema, decideRevocations);
