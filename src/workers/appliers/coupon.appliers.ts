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
  writeLedgerChanges,
} from '../../db/coupons.repository.js';
import {
  allocationItemSchema,
  couponIdSchema,
  couponSpecSchema,
  revocationItemSchema,
} from '../../producers/contract.js';
import { type ChunkApplier, enterpriseOf, parseItems, parseParams } from './chunk-applier.js';

export const applyCouponIssue: ChunkApplier = async (tx, operation, chunk) => {
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
  const existing = await lockCoupons(tx, ids);
  const seen = await couponsIssuedBy(tx, operation.operation_id, ids);
  const decision = decideIssue(enterpriseId, coupons, chunk.offset, existing, seen);
  await insertIssuedCoupons(tx, operation.operation_id, enterpriseId, decision.issued);
  return { itemCount: coupons.length, counts: decision.counts, rejections: decision.rejections };
};

const couponParams = z.object({ couponId: couponIdSchema });

function ledgerApplier(
  itemSchema: typeof allocationItemSchema | typeof revocationItemSchema,
  decide: typeof decideAllocations,
): ChunkApplier {
  return async (tx, operation, chunk) => {
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
    const { coupon, now } = await lockCoupon(tx, couponId);
    const members = await loadLedgerMembers(
      tx,
      operation.operation_id,
      enterpriseId,
      couponId,
      items.map((i) => i.memberId),
    );
    const decision = decide(
      { operationId: operation.operation_id, enterpriseId, now },
      coupon,
      items,
      chunk.offset,
      members,
    );
    await writeLedgerChanges(tx, operation.operation_id, couponId, enterpriseId, decision);
    return {
      itemCount: items.length,
      counts: decision.counts,
      rejections: decision.rejections.map((r) => ({ ...r, couponId })),
    };
  };
}

export const applyCouponAllocate = ledgerApplier(allocationItemSchema, decideAllocations);
export const applyCouponRevoke = ledgerApplier(revocationItemSchema, decideRevocations);
