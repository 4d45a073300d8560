import { z } from 'zod';
import { operationBase } from '../../contract/ids.js';
import type { PlannedChunk } from '../../domain/chunk-plan.js';
import { parseAmount } from '../../domain/money.js';
import { reads, writes } from '../../domain/ordering/claims.js';
import { parseQuantity } from '../../domain/quantity.js';
import { type ChunkWork, chunkWork } from '../../operations/chunk-work.js';
import { defineKind, enterpriseOf, historyScope, type OperationIdentity, parseItems, repeatsOf } from '../kind.js';
import { decideSettlements, type UsageItem } from './settlement.rules.js';
import { usageRecordSchema } from './usage-items.js';
import {
  type DrawScope,
  lockCouponPots,
  lockPackagePots,
  readCouponPots,
  readPackagePots,
  settledRecords,
  settlingMembers,
  toCouponPots,
  toPackagePots,
  toSettled,
  writeSettlements,
} from './usage.sql.js';

/**
 * Settles usage records against packages, coupons and pay-as-you-go (`settlement.rules.ts`).
 * Every record of an enterprise may draw on the same master packages and coupons, so records
 * settle one after another in publication order: an operation's chunks in batch order, and an
 * operation after every earlier one that writes the enterprise's packages or coupons or a member's
 * switch or membership.
 */
export const usageSettle = defineKind({
  kind: 'usage.settle',
  schema: z.strictObject({
    ...operationBase,
    kind: z.literal('usage.settle'),
    records: z.array(usageRecordSchema).min(1),
  }),
  items: { field: 'records', schema: usageRecordSchema },
  itemKey: (record) => record.recordId,
  claims: {
    operation: (h) => [
      writes(`${h.enterpriseId}/package/*`),
      writes(`${h.enterpriseId}/coupon/*`),
      writes(`${h.enterpriseId}/usage/*`),
    ],
    item: (h, record) => [reads(`${h.enterpriseId}/member/${record.memberId}`)],
    everyItem: (h) => [reads(`${h.enterpriseId}/member/*`)],
  },
  ordered: true,
  apply: (operation, chunk) => settlementWork(operation, chunk, false),
  file: {
    columns: 'recordId,memberId,product,quantity,amount,usedAt',
    rejectedBy: ['recordId', 'memberId'],
    fromCsv: ([recordId, memberId, product, quantity, amount, usedAt]) => ({
      recordId,
      memberId,
      product,
      quantity,
      amount,
      usedAt,
    }),
  },
});

/**
 * A settlement chunk: its records, their members, and what they may draw on, read without locks;
 * the writes are guarded by what was read. `lock`: the same under the locks every ledger writer
 * takes (packages, then coupons before their holdings), for when something moved meanwhile.
 */
function settlementWork(operation: OperationIdentity, chunk: PlannedChunk<unknown>, lock: boolean): ChunkWork {
  const enterpriseId = enterpriseOf(operation);
  const items: UsageItem[] = parseItems(usageRecordSchema, chunk).map((r) => ({
    recordId: r.recordId,
    memberId: r.memberId,
    product: r.product,
    quantityMicros: parseQuantity(r.quantity),
    amountCents: parseAmount(r.amount),
    usedAt: new Date(r.usedAt),
  }));
  const times = items.map((i) => i.usedAt.getTime());
  const memberIds = [...new Set(items.map((i) => i.memberId))];
  const scope: DrawScope = {
    enterpriseId,
    memberIds,
    products: [...new Set(items.map((i) => i.product))],
    firstUsedAt: new Date(Math.min(...times)),
    lastUsedAt: new Date(Math.max(...times)),
  };
  const recordIds = items.map((i) => i.recordId);
  const reads = [
    settledRecords(historyScope(operation), enterpriseId, recordIds),
    settlingMembers(enterpriseId, memberIds),
    (lock ? lockPackagePots : readPackagePots)(scope),
    ...(lock ? [lockCouponPots(scope)] : []),
    readCouponPots(scope),
  ] as const;
  return chunkWork({
    reads,
    decide(rows) {
      const [settledRows, memberRows, packageRows] = rows;
      const couponRows = rows[rows.length - 1] as Parameters<typeof toCouponPots>[0];
      const { settled, seen } = toSettled(settledRows);
      const decision = decideSettlements(items, chunk.offset, {
        settled,
        members: new Map(memberRows.map((m) => [m.member_id, { sharingEnabled: m.sharing_enabled }])),
        packages: toPackagePots(packageRows),
        coupons: toCouponPots(couponRows),
        seenInOperation: seen,
        repeats: repeatsOf(chunk),
      });
      return {
        writes: writeSettlements({ ...historyScope(operation), enterpriseId }, decision),
        outcome: { itemCount: items.length, counts: decision.counts, rejections: decision.rejections },
      };
    },
    fallback: lock ? undefined : () => settlementWork(operation, chunk, true),
  });
}
