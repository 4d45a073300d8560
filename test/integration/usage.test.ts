import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('usage');
});
afterAll(async () => h?.close());

const T0 = '2026-06-01T00:00:00Z';
const T9 = '2027-06-01T00:00:00Z';

/** A usage record of `ecs`, used on 1 December 2026 unless said otherwise. */
const ecs = (
  recordId: string,
  memberId: string,
  quantity: string,
  amount: string,
  usedAt = '2026-12-01T00:00:00Z',
) => ({
  recordId,
  memberId,
  product: 'ecs',
  quantity,
  amount,
  usedAt,
});

async function run(body: Record<string, unknown>) {
  return h.waitForOperation(await h.publish(body));
}

describe('usage settlement', () => {
  it('draws on own packages, then the master packages, then coupons, then pay-as-you-go', async () => {
    const E = 'E-u1';
    await run({ kind: 'members.associate', enterpriseId: E, memberIds: ['u1-m1', 'u1-m2'] });
    await run({ kind: 'sharing.set', enterpriseId: E, enabled: true, memberIds: ['u1-m1'] });
    const issued = await run({
      kind: 'packages.issue',
      enterpriseId: E,
      packages: [
        {
          packageId: 'u1-own',
          owner: 'u1-m1',
          product: 'ecs',
          unit: 'hour',
          quantity: '2',
          validFrom: T0,
          validUntil: T9,
        },
        {
          packageId: 'u1-master',
          owner: 'master',
          product: 'ecs',
          unit: 'hour',
          quantity: '3',
          validFrom: T0,
          validUntil: T9,
        },
      ],
    });
    expect(issued.counts).toMatchObject({ applied: 2 });
    await run({
      kind: 'coupons.issue',
      enterpriseId: E,
      coupons: [
        {
          couponId: 'u1-c',
          faceValue: '10.00',
          allocationMode: 'multiple',
          validFrom: T0,
          validUntil: T9,
          products: ['ecs'],
        },
      ],
    });
    const settled = await run({
      kind: 'usage.settle',
      enterpriseId: E,
      records: [ecs('r1', 'u1-m1', '6', '12.00'), ecs('r2', 'u1-m2', '1', '20.00'), ecs('r3', 'nobody', '1', '1.00')],
    });
    expect(settled).toMatchObject({ status: 'completed_with_rejections', counts: { applied: 2, rejected: 1 } });
    const { rows } = await sql<{
      record_id: string;
      source: string;
      benefit_id: string | null;
      quantity_micros: number | null;
      amount_cents: number | null;
    }>`
      SELECT record_id, source, benefit_id, quantity_micros, amount_cents FROM usage_lines ORDER BY record_id, line_no`.execute(
      h.service.db,
    );
    expect(rows).toEqual([
      { record_id: 'r1', source: 'own_package', benefit_id: 'u1-own', quantity_micros: 2_000_000, amount_cents: null },
      {
        record_id: 'r1',
        source: 'master_package',
        benefit_id: 'u1-master',
        quantity_micros: 3_000_000,
        amount_cents: null,
      },
      { record_id: 'r1', source: 'master_coupon', benefit_id: 'u1-c', quantity_micros: null, amount_cents: 200 },
      { record_id: 'r2', source: 'master_coupon', benefit_id: 'u1-c', quantity_micros: null, amount_cents: 800 },
      { record_id: 'r2', source: 'payg', benefit_id: null, quantity_micros: null, amount_cents: 1200 },
    ]);
    const again = await run({
      kind: 'usage.settle',
      enterpriseId: E,
      records: [ecs('r1', 'u1-m1', '6', '12.00'), ecs('r2', 'u1-m2', '1', '20.01')],
    });
    expect(again).toMatchObject({ counts: { unchanged: 1, rejected: 1 }, rejectedByReason: { record_conflict: 1 } });
  });

  it('uses only what is valid at usedAt, only the products a coupon names, and rounds the priced part half-up', async () => {
    const E = 'E-u2';
    await run({ kind: 'members.associate', enterpriseId: E, memberIds: ['u2-m'] });
    await run({ kind: 'sharing.set', enterpriseId: E, enabled: true, memberIds: ['u2-m'] });
    await run({
      kind: 'packages.issue',
      enterpriseId: E,
      packages: [
        // Ends the instant the second record is used: validUntil is exclusive.
        {
          packageId: 'u2-p',
          owner: 'master',
          product: 'ecs',
          unit: 'hour',
          quantity: '100',
          validFrom: T0,
          validUntil: '2026-09-01T00:00:00Z',
        },
      ],
    });
    await run({
      kind: 'coupons.issue',
      enterpriseId: E,
      coupons: [
        {
          couponId: 'u2-oss',
          faceValue: '50.00',
          allocationMode: 'multiple',
          validFrom: T0,
          validUntil: T9,
          products: ['oss'],
        },
        {
          couponId: 'u2-ecs',
          faceValue: '0.50',
          allocationMode: 'multiple',
          validFrom: T0,
          validUntil: T9,
          products: ['ecs', 'oss'],
        },
      ],
    });
    const done = await run({
      kind: 'usage.settle',
      enterpriseId: E,
      records: [
        ecs('a', 'u2-m', '1', '9.99', '2026-08-31T23:59:59Z'),
        ecs('b', 'u2-m', '3', '1.00', '2026-09-01T00:00:00Z'),
        ecs('c', 'u2-m', '0.000002', '0.01', '2026-09-01T00:00:00Z'),
      ],
    });
    expect(done.counts).toMatchObject({ applied: 3 });
    const { rows } = await sql<{
      record_id: string;
      covered_micros: number;
      priced_cents: number;
      coupon_cents: number;
      payg_cents: number;
    }>`
      SELECT record_id, covered_micros, priced_cents, coupon_cents, payg_cents FROM usage_records
      WHERE enterprise_id = ${E} ORDER BY settled_seq`.execute(h.service.db);
    expect(rows).toEqual([
      { record_id: 'a', covered_micros: 1_000_000, priced_cents: 0, coupon_cents: 0, payg_cents: 0 },
      // 1.00 for 3 hours, none covered: the oss-only coupon pays nothing, the ecs one 0.50 of 1.00.
      { record_id: 'b', covered_micros: 0, priced_cents: 100, coupon_cents: 50, payg_cents: 50 },
      // 0.01 × 2/2 millionths: the whole cent, nothing to round.
      { record_id: 'c', covered_micros: 0, priced_cents: 1, coupon_cents: 0, payg_cents: 1 },
    ]);
    const oss = await sql<{ balance_cents: number; spent_cents: number }>`
      SELECT balance_cents, spent_cents FROM coupons WHERE coupon_id IN ('u2-oss', 'u2-ecs') ORDER BY coupon_id`.execute(
      h.service.db,
    );
    expect(oss.rows).toEqual([
      { balance_cents: 0, spent_cents: 50 },
      { balance_cents: 5000, spent_cents: 0 },
    ]);
  });

  it('never takes back spent money when a coupon is revoked', async () => {
    const E = 'E-u3';
    await run({ kind: 'members.associate', enterpriseId: E, memberIds: ['u3-m'] });
    await run({
      kind: 'coupons.issue',
      enterpriseId: E,
      coupons: [
        {
          couponId: 'u3-c',
          faceValue: '10.00',
          allocationMode: 'multiple',
          validFrom: T0,
          validUntil: T9,
          products: ['ecs'],
        },
      ],
    });
    await run({
      kind: 'coupons.allocate',
      enterpriseId: E,
      couponId: 'u3-c',
      allocations: [{ memberId: 'u3-m', amount: '6.00' }],
    });
    await run({
      kind: 'usage.settle',
      enterpriseId: E,
      records: [ecs('x', 'u3-m', '1', '4.00')],
    });
    const revoked = await run({
      kind: 'coupons.revoke',
      enterpriseId: E,
      couponId: 'u3-c',
      revocations: [{ memberId: 'u3-m' }],
    });
    expect(revoked.counts).toMatchObject({ applied: 1 });
    const { rows } = await sql<Record<string, number>>`
      SELECT c.balance_cents AS balance, c.spent_cents AS master_spent, mc.allocated_cents AS allocated,
             mc.revoked_cents AS revoked, mc.spent_cents AS spent, mc.unused_cents AS unused
      FROM coupons c JOIN member_coupons mc USING (coupon_id) WHERE coupon_id = 'u3-c'`.execute(h.service.db);
    expect(rows[0]).toEqual({ balance: 600, master_spent: 0, allocated: 600, revoked: 200, spent: 400, unused: 0 });
  });

  it('flags members disabled after drawing on the master packages within the lookback', async () => {
    const E = 'E-u4';
    const lately = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const longAgo = new Date(Date.now() - 40 * 86_400_000).toISOString();
    await run({ kind: 'members.associate', enterpriseId: E, memberIds: ['u4-a', 'u4-b', 'u4-c', 'u4-d'] });
    await run({ kind: 'sharing.set', enterpriseId: E, enabled: true, memberIds: ['u4-a', 'u4-b', 'u4-c'] });
    await run({
      kind: 'packages.issue',
      enterpriseId: E,
      packages: [
        {
          packageId: 'u4-p',
          owner: 'master',
          product: 'ecs',
          unit: 'hour',
          quantity: '10',
          validFrom: '2020-01-01T00:00:00Z',
          validUntil: T9,
        },
        {
          packageId: 'u4-own',
          owner: 'u4-c',
          product: 'ecs',
          unit: 'hour',
          quantity: '10',
          validFrom: '2020-01-01T00:00:00Z',
          validUntil: T9,
        },
      ],
    });
    await run({
      kind: 'usage.settle',
      enterpriseId: E,
      records: [
        ecs('a', 'u4-a', '1', '1.00', lately),
        ecs('b', 'u4-b', '1', '1.00', longAgo),
        // Covered by its own package: it never drew on the master's.
        ecs('c', 'u4-c', '1', '1.00', lately),
      ],
    });
    const disabled = await run({
      kind: 'sharing.set',
      enterpriseId: E,
      enabled: false,
      memberIds: ['u4-a', 'u4-b', 'u4-c', 'u4-d'],
    });
    expect(disabled.counts).toMatchObject({ applied: 3, unchanged: 1 });
    const { rows } = await sql<{ member_id: string; arrears_risk: boolean }>`
      SELECT member_id, arrears_risk FROM sharing_history WHERE operation_id = ${disabled.operationId} ORDER BY member_id`.execute(
      h.service.db,
    );
    expect(rows).toEqual([
      { member_id: 'u4-a', arrears_risk: true },
      { member_id: 'u4-b', arrears_risk: false },
      { member_id: 'u4-c', arrears_risk: false },
      { member_id: 'u4-d', arrears_risk: false },
    ]);
  });

  it('settles dependent operations published at once as if one after another, the ledger exact', async () => {
    const E = 'E-u5';
    const members = Array.from({ length: 300 }, (_, i) => `u5-${String(i).padStart(4, '0')}`);
    const sharing = members.filter((_, i) => i % 2 === 0);
    const ids = [
      await h.publish({ kind: 'members.associate', enterpriseId: E, memberIds: members }),
      await h.publish({ kind: 'sharing.set', enterpriseId: E, enabled: true, memberIds: sharing }),
      await h.publish({
        kind: 'packages.issue',
        enterpriseId: E,
        packages: [
          {
            packageId: 'u5-p',
            owner: 'master',
            product: 'ecs',
            unit: 'GB',
            quantity: '500',
            validFrom: T0,
            validUntil: T9,
          },
        ],
      }),
      await h.publish({
        kind: 'coupons.issue',
        enterpriseId: E,
        coupons: [
          {
            couponId: 'u5-c',
            faceValue: '100.00',
            allocationMode: 'multiple',
            validFrom: T0,
            validUntil: T9,
            products: ['ecs'],
          },
        ],
      }),
    ];
    // Four settlements of every member, 1.5 GB at 3.00 each, published without waiting.
    for (let round = 0; round < 4; round += 1) {
      ids.push(
        await h.publish({
          kind: 'usage.settle',
          enterpriseId: E,
          records: members.map((m) => ({
            recordId: `${m}-${round}`,
            memberId: m,
            product: 'ecs',
            quantity: '1.5',
            amount: '3.00',
            usedAt: '2026-12-01T00:00:00Z',
          })),
        }),
      );
    }
    for (const id of ids) expect((await h.waitForOperation(id, 60_000)).status).toBe('completed');
    const totals = await sql<Record<string, number>>`
      SELECT (SELECT remaining_micros FROM packages WHERE package_id = 'u5-p') AS remaining,
             (SELECT consumed_micros FROM packages WHERE package_id = 'u5-p') AS consumed,
             (SELECT coalesce(sum(quantity_micros), 0) FROM usage_lines WHERE benefit_id = 'u5-p')::int8 AS lines,
             (SELECT balance_cents FROM coupons WHERE coupon_id = 'u5-c') AS balance,
             (SELECT spent_cents FROM coupons WHERE coupon_id = 'u5-c') AS spent,
             (SELECT sum(payg_cents) FROM usage_records WHERE enterprise_id = ${E})::int8 AS payg,
             (SELECT sum(priced_cents) FROM usage_records WHERE enterprise_id = ${E})::int8 AS priced`.execute(
      h.service.db,
    );
    // 150 sharing members draw 1.5 GB a record: 500 GB last 333 records and a third of the next.
    expect(totals.rows[0]).toEqual({
      remaining: 0,
      consumed: 500_000_000,
      lines: 500_000_000,
      balance: 0,
      spent: 10_000,
      payg: 1200 * 300 - 500 * 200 - 10_000,
      priced: 1200 * 300 - 500 * 200,
    });
    // In publication order the first round of sharing members all drew on the package in batch order.
    const first = await sql<{ record_id: string; covered_micros: number }>`
      SELECT record_id, covered_micros FROM usage_records WHERE enterprise_id = ${E} AND covered_micros > 0
      ORDER BY settled_seq`.execute(h.service.db);
    expect(first.rows.slice(0, 150).every((r) => r.record_id.endsWith('-0'))).toBe(true);
    expect(first.rows.length).toBe(334);
  });
});
