import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChunkTransaction } from '../../src/operations/chunk-transaction.js';
import { findOperation } from '../../src/operations/operation-records.js';
import { couponsAllocate } from '../../src/kinds/coupons/allocate.kind.js';
import { chunksByHand, movedAfterRead } from '../support/chunks-by-hand.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { DEFAULT_APPLY_SETTINGS } from '../../src/kinds/kind.js';

// Allocations draw from a coupon they read without its lock; when that read no longer holds at the
// draw, the chunk is rolled back and applied again under the lock. Workers stay off: the tests
// deliver chunk jobs by hand, in the order they choose, so both ways back are taken for certain.
let h: Harness;
let byHand: ReturnType<typeof chunksByHand>;
const members = memberIds('draw', 200);
const FACE_CENTS = 1_000_000;

beforeAll(async () => {
  h = await startHarness('coupon_draw', { workers: false });
  byHand = chunksByHand(h);
  await byHand.runAll(await h.publish({ kind: 'members.associate', enterpriseId: 'E-draw', memberIds: members }));
});
afterAll(async () => h?.close());

async function issueCoupon(couponId: string) {
  const day = 86_400_000;
  await byHand.runAll(
    await h.publish({
      kind: 'coupons.issue',
      enterpriseId: 'E-draw',
      coupons: [
        {
          couponId,
          faceValue: (FACE_CENTS / 100).toFixed(2),
          allocationMode: 'multiple',
          validFrom: new Date(Date.now() - day).toISOString(),
          validUntil: new Date(Date.now() + day).toISOString(),
          products: ['ecs'],
        },
      ],
    }),
  );
}

async function couponLedger(couponId: string) {
  const coupon = await h.service.db
    .selectFrom('coupons')
    .select('balance_cents')
    .where('coupon_id', '=', couponId)
    .executeTakeFirstOrThrow();
  const history = await h.service.db
    .selectFrom('coupon_history')
    .select(['member_id', 'amount_cents', 'coupon_balance_after_cents', 'member_balance_after_cents'])
    .where('coupon_id', '=', couponId)
    .where('action', '=', 'allocate')
    .orderBy('id')
    .execute();
  const holdings = await h.service.db
    .selectFrom('member_coupons')
    .select(['member_id', 'unused_cents'])
    .where('coupon_id', '=', couponId)
    .execute();
  return {
    balance: coupon.balance_cents,
    history,
    holdings: new Map(holdings.map((r) => [r.member_id, r.unused_cents])),
  };
}

describe('allocations drawn from a coupon read without its lock', () => {
  it('a member repeated in a later chunk collides on the history key, and the chunk rejects it under the lock', async () => {
    await issueCoupon('C-draw-repeat');
    // 150 items: chunk 0 holds draw-0..99, chunk 1 draw-100..148 and draw-5 again.
    const items = [...members.slice(0, 149), members[5]!];
    const operationId = await h.publish({
      kind: 'coupons.allocate',
      enterpriseId: 'E-draw',
      couponId: 'C-draw-repeat',
      allocations: items.map((memberId) => ({ memberId, amount: '1.00' })),
    });
    const view = await byHand.runAll(operationId);

    expect(view).toMatchObject({
      status: 'completed_with_rejections',
      counts: { applied: 149, rejected: 1 },
      rejectedByReason: { duplicate_item: 1 },
    });
    const ledger = await couponLedger('C-draw-repeat');
    expect(ledger.balance).toBe(FACE_CENTS - 149 * 100);
    expect(ledger.history).toHaveLength(149);
    expect(ledger.holdings.get(members[5]!)).toBe(100);
    // Balances after each item follow the order of the items, chunk after chunk.
    expect(ledger.history.map((r) => r.coupon_balance_after_cents)).toEqual(
      Array.from({ length: 149 }, (_, i) => FACE_CENTS - (i + 1) * 100),
    );
  });

  it('a draw that finds the balance moved since it was read is rolled back and applied again under the lock', async () => {
    await issueCoupon('C-draw-moved');
    const operationId = await h.publish({
      kind: 'coupons.allocate',
      enterpriseId: 'E-draw',
      couponId: 'C-draw-moved',
      allocations: members.slice(0, 100).map((memberId) => ({ memberId, amount: '2.50' })),
    });
    const operation = (await findOperation(h.service.db, operationId))!;
    const chunk = (await byHand.chunkJob(operationId, 0)).data;
    // Another writer leaves 120.00 between the read and the draw: the chunk read the full face
    // value and draws 250.00.
    const moved = movedAfterRead(
      couponsAllocate.apply(operation, chunk, DEFAULT_APPLY_SETTINGS),
      `UPDATE coupons SET balance_cents = 12000 WHERE coupon_id = 'C-draw-moved'`,
    );

    const result = await runChunkTransaction(h.service.db, { operationId, chunkIndex: 0 }, moved.work);

    expect(moved.fallbackRuns()).toBe(1);
    expect(result).toMatchObject({ claimed: true, applied: { counts: { applied: 100, rejected: 0 } } });
    const ledger = await couponLedger('C-draw-moved');
    expect(ledger.balance).toBe(FACE_CENTS - 100 * 250);
    expect(ledger.history).toHaveLength(100);
    expect([...ledger.holdings.values()].every((unused) => unused === 250)).toBe(true);
  });
});
