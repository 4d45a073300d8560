import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { type Service, startService } from '../../src/service.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';

// Two services on one database and one queue prefix: two worker pools racing on the same coupons.
let h: Harness;
let second: Service;
beforeAll(async () => {
  h = await startHarness('coupon_race', { env: { WORKER_CONCURRENCY: '4' } });
  second = await startService(
    loadConfig({ ...process.env, ...envOf(h), WORKER_CONCURRENCY: '4', LOG_LEVEL: 'silent' }),
    createLogger('silent'),
    {
      api: false,
      workers: true,
      migrate: false,
    },
  );
});
afterAll(async () => {
  await second?.stop();
  await h?.close();
});

function envOf(harness: Harness) {
  return {
    DATABASE_URL: harness.config.databaseUrl,
    REDIS_URL: harness.config.redisUrl,
    QUEUE_PREFIX: harness.config.queuePrefix,
  };
}

/** A seeded generator, so a failing run can be replayed. */
function random(seed: number) {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

describe('allocations and revocations racing on the same coupons', () => {
  it('never overdraw a coupon nor lose an update: face value = balance + unused allocations', async () => {
    const members = memberIds('race', 3000);
    await h.waitForOperation(
      await h.publish({ kind: 'members.associate', enterpriseId: 'E-race', memberIds: members }),
      60_000,
    );
    const coupons = ['C-race-1', 'C-race-2', 'C-race-3'];
    await h.waitForOperation(
      await h.publish({
        kind: 'coupons.issue',
        enterpriseId: 'E-race',
        coupons: coupons.map((couponId) => ({
          couponId,
          faceValue: '2500.00',
          allocationMode: 'multiple',
          validFrom: new Date(Date.now() - 3_600_000).toISOString(),
          validUntil: new Date(Date.now() + 86_400_000).toISOString(),
          products: ['ecs'],
        })),
      }),
    );

    const rnd = random(42);
    const amount = () =>
      `${Math.floor(rnd() * 3)}.${String(Math.floor(rnd() * 100)).padStart(2, '0')}`.replace(/^0\.00$/, '0.01');
    const bodies: Record<string, unknown>[] = [];
    for (let op = 0; op < 24; op += 1) {
      const couponId = coupons[op % coupons.length]!;
      const start = Math.floor(rnd() * 2500);
      const slice = members.slice(start, start + 400);
      bodies.push(
        op % 3 === 2
          ? {
              kind: 'coupons.revoke',
              enterpriseId: 'E-race',
              couponId,
              revocations: slice.map((memberId, i) => (i % 2 ? { memberId } : { memberId, amount: amount() })),
            }
          : {
              kind: 'coupons.allocate',
              enterpriseId: 'E-race',
              couponId,
              allocations: slice.map((memberId) => ({ memberId, amount: amount() })),
            },
      );
    }
    const operationIds = await Promise.all(bodies.map((body) => h.publish(body)));
    const views = await Promise.all(operationIds.map((id) => h.waitForOperation(id, 120_000)));
    expect(views.every((v) => v.status === 'completed' || v.status === 'completed_with_rejections')).toBe(true);
    const applied = views.reduce((n, v) => n + v.counts.applied, 0);
    expect(applied).toBeGreaterThan(2000);
    // Balances ran out: some allocations must have been refused rather than overdrawing.
    expect(views.some((v) => (v.rejectedByReason.insufficient_balance ?? 0) > 0)).toBe(true);

    const { rows } = await sql<{
      coupon_id: string;
      face: number;
      balance: number;
      unused: number;
      spent: number;
      allocated: number;
      revoked: number;
      history_net: number;
    }>`
      SELECT c.coupon_id, c.face_value_cents AS face, c.balance_cents AS balance,
             coalesce((SELECT sum(unused_cents) FROM member_coupons WHERE coupon_id = c.coupon_id), 0)::int8 AS unused,
             coalesce((SELECT sum(spent_cents) FROM member_coupons WHERE coupon_id = c.coupon_id), 0)::int8 AS spent,
             coalesce((SELECT sum(allocated_cents) FROM member_coupons WHERE coupon_id = c.coupon_id), 0)::int8 AS allocated,
             coalesce((SELECT sum(revoked_cents) FROM member_coupons WHERE coupon_id = c.coupon_id), 0)::int8 AS revoked,
             coalesce((SELECT sum(CASE action WHEN 'allocate' THEN amount_cents WHEN 'revoke' THEN -amount_cents ELSE 0 END)
                       FROM coupon_history WHERE coupon_id = c.coupon_id), 0)::int8 AS history_net
      FROM coupons c WHERE c.enterprise_id = 'E-race' ORDER BY c.coupon_id`.execute(h.service.db);
    expect(rows).toHaveLength(3);
    for (const row of rows) {
      expect(row.balance).toBeGreaterThanOrEqual(0);
      expect(row.face).toBe(row.balance + row.unused + row.spent);
      expect(row.history_net).toBe(row.face - row.balance);
      expect(row.allocated - row.revoked - row.spent).toBe(row.unused);
    }
    // Every applied item has exactly one history row, every other item one rejection.
    const { rows: items } = await sql<{ operation_id: string; history: number; rejections: number }>`
      SELECT o.operation_id,
             (SELECT count(*) FROM coupon_history h WHERE h.operation_id = o.operation_id)::int AS history,
             (SELECT count(*) FROM operation_rejections r WHERE r.operation_id = o.operation_id)::int AS rejections
      FROM operations o WHERE o.operation_id = ANY(${operationIds}::text[])`.execute(h.service.db);
    for (const row of items) expect(row.history + row.rejections).toBe(400);
  }, 180_000);
});
