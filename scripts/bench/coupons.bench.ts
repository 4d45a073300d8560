import type pg from 'pg';
import { formatCents } from '../../src/domain/money.js';
import {
  inTransaction,
  memberId,
  type ReferenceRun,
  type Round,
  type ServiceRun,
  slices,
  vacuum,
  waitForOperations,
} from './common.js';
import {
  ENTERPRISE,
  expectEqual,
  inTurn,
  measureHandWritten,
  measureService,
  phase,
  type ScenarioContext,
} from './scenario.js';

export const COUPONS = 100;

export type CouponPlan = ReturnType<typeof plan>;

interface Allocation {
  memberId: string;
  cents: number;
}

/** Coupon k allocates to the k-th hundredth of the members, 1.00 to 5.99 each. */
export function plan(members: number): { couponId: string; allocations: Allocation[] }[] {
  const perCoupon = Math.ceil(members / COUPONS);
  return Array.from({ length: COUPONS }, (_, k) => ({
    couponId: `BC-${String(k).padStart(3, '0')}`,
    allocations: Array.from({ length: Math.max(0, Math.min(perCoupon, members - k * perCoupon)) }, (_, j) => {
      const i = k * perCoupon + j;
      return { memberId: memberId(i), cents: 100 + ((i * 37) % 500) };
    }),
  })).filter((c) => c.allocations.length > 0);
}

/** Setup, not measured: the coupons, each with exactly enough balance plus a margin. */
export async function seedCoupons(pool: pg.Pool, coupons: CouponPlan): Promise<void> {
  await pool.query(
    `INSERT INTO coupons (coupon_id, enterprise_id, face_value_cents, balance_cents, allocation_mode,
                          valid_from, valid_until, products, issued_by_operation_id)
     SELECT c.id, $1, c.face, c.face, 'multiple', now() - interval '1 day', now() + interval '7 days', '{ecs}', 'bench-seed'
     FROM unnest($2::text[], $3::int8[]) AS c(id, face)`,
    [
      ENTERPRISE,
      coupons.map((c) => c.couponId),
      coupons.map((c) => c.allocations.reduce((n, a) => n + a.cents, 0) + 10_000),
    ],
  );
}

async function checkLedger(pool: pg.Pool, operationPrefix: string, count: number): Promise<void> {
  const { rows } = await pool.query<{
    history: number;
    holdings: number;
    face: number;
    balance: number;
    unused: number;
  }>(
    `SELECT (SELECT count(*) FROM coupon_history WHERE operation_id LIKE $1 AND member_id IS NOT NULL) AS history,
            (SELECT count(*) FROM member_coupons) AS holdings,
            (SELECT sum(face_value_cents)::int8 FROM coupons) AS face,
            (SELECT sum(balance_cents)::int8 FROM coupons) AS balance,
            (SELECT coalesce(sum(unused_cents), 0)::int8 FROM member_coupons) AS unused`,
    [`${operationPrefix}%`],
  );
  const r = rows[0]!;
  expectEqual(`${operationPrefix}: allocation history rows`, r.history, count);
  expectEqual(`${operationPrefix}: holdings`, r.holdings, count);
  expectEqual(`${operationPrefix}: face value = balance + unused`, r.face, r.balance + r.unused);
}

async function resetCoupons(pool: pg.Pool): Promise<void> {
  await pool.query(`TRUNCATE member_coupons, coupon_history`);
  await pool.query(`UPDATE coupons SET balance_cents = face_value_cents, allocation_operation_id = NULL`);
  // Not the truncated tables: analysed empty, they would give every chunk's lookups a plan made for
  // no rows (sequential scans) until autovacuum analysed them again as they grew, minutes later.
  // Truncated and not analysed, they are as new tables are: of unknown size, looked up by index.
  await vacuum(pool, ['coupons']);
}

/** One `coupons.allocate` operation per coupon, published one after the other, all awaited together. */
async function runCouponService(ctx: ScenarioContext, coupons: CouponPlan, round: number): Promise<ServiceRun> {
  const prefix = `bench-alloc-${round}-`;
  const operationIds = coupons.map((c) => `${prefix}${c.couponId}`);
  const bodies = coupons.map((c, k) => ({
    operationId: operationIds[k]!,
    kind: 'coupons.allocate' as const,
    enterpriseId: ENTERPRISE,
    couponId: c.couponId,
    allocations: c.allocations.map((a) => ({ memberId: a.memberId, amount: formatCents(a.cents) })),
  }));
  const run = await measureService(ctx, ctx.members, async (published) => {
    for (const body of bodies) await ctx.producer.publish(body);
    published();
    const final = await waitForOperations(ctx.env.pool, operationIds, {
      timeoutMs: ctx.timeoutMs,
      label: 'coupons.allocate service',
      check: () => ctx.workers.assertAlive(),
      finished: ctx.finished,
    });
    const statuses = new Set([...final.values()].map((o) => o.status));
    expectEqual('coupons.allocate statuses', [...statuses].join(','), 'completed');
    expectEqual(
      'coupons.allocate applied',
      [...final.values()].reduce((n, o) => n + o.applied, 0),
      ctx.members,
    );
  });
  await checkLedger(ctx.env.pool, prefix, ctx.members);
  return run;
}

/** Chunks of 100 allocations, coupon after coupon: the order the service's queue hands them out. */
const couponChunks = (coupons: CouponPlan) =>
  coupons.flatMap((c) => slices(c.allocations).map((items) => ({ couponId: c.couponId, items })));

/**
 * By hand, chunk by chunk in the order the service's queue hands them out: lock the coupon,
 * take the amounts from its balance, upsert the holdings and write one history row per item.
 */
async function runCouponReference(ctx: ScenarioContext, coupons: CouponPlan, round: number): Promise<ReferenceRun> {
  const prefix = `bench-ref-alloc-${round}-`;
  const chunks = couponChunks(coupons);
  const run = await measureHandWritten(ctx, chunks.length, async (client, task) => {
    const { couponId, items } = chunks[task]!;
    const operationId = `${prefix}${couponId}`;
    await inTransaction(client, async () => {
      const locked = await client.query<{ balance_cents: number; valid: boolean }>(
        `SELECT balance_cents, now() BETWEEN valid_from AND valid_until AS valid FROM coupons WHERE coupon_id = $1 FOR UPDATE`,
        [couponId],
      );
      const coupon = locked.rows[0];
      if (!coupon?.valid) throw new Error(`reference: coupon ${couponId} missing or not valid`);
      let balance = coupon.balance_cents;
      const balances = items.map((a) => {
        if (a.cents > balance) throw new Error(`reference: coupon ${couponId} overdrawn`);
        balance -= a.cents;
        return balance;
      });
      await client.query(`UPDATE coupons SET balance_cents = $2, updated_at = now() WHERE coupon_id = $1`, [
        couponId,
        balance,
      ]);
      const held = await client.query<{ member_id: string; unused_cents: number }>(
        `INSERT INTO member_coupons (coupon_id, member_id, enterprise_id, allocated_cents, unused_cents)
         SELECT $1, a.member_id, $2, a.cents, a.cents FROM unnest($3::text[], $4::int8[]) AS a(member_id, cents)
         ON CONFLICT (coupon_id, member_id) DO UPDATE SET
           allocated_cents = member_coupons.allocated_cents + EXCLUDED.allocated_cents,
           unused_cents = member_coupons.unused_cents + EXCLUDED.unused_cents,
           updated_at = now()
         RETURNING member_id, unused_cents`,
        [couponId, ENTERPRISE, items.map((a) => a.memberId), items.map((a) => a.cents)],
      );
      const unused = new Map(held.rows.map((r) => [r.member_id, r.unused_cents]));
      await client.query(
        `INSERT INTO coupon_history (operation_month, operation_id, coupon_id, enterprise_id, member_id, action, outcome, amount_cents,
                                     coupon_balance_after_cents, member_balance_after_cents)
         SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date, $1, $2, $3, h.member_id, 'allocate', 'applied', h.cents, h.balance, h.unused
         FROM unnest($4::text[], $5::int8[], $6::int8[], $7::int8[]) AS h(member_id, cents, balance, unused)`,
        [
          operationId,
          couponId,
          ENTERPRISE,
          items.map((a) => a.memberId),
          items.map((a) => a.cents),
          balances,
          items.map((a) => unused.get(a.memberId)),
        ],
      );
    });
  });
  await checkLedger(ctx.env.pool, prefix, ctx.members);
  return run;
}

/**
 * The reference's rows in one statement per chunk, committed on its own (one round trip instead of
 * six). No SELECT ... FOR UPDATE: the UPDATE of the coupon locks it, and its balance test is made
 * again on the newest balance if it waited for another chunk, which `RETURNING` then answers with.
 * The holdings and history hang on the coupon's row: a coupon not valid or short of the chunk's
 * total writes nothing. Each history row's balance after its item is the chunk's closing balance
 * plus what the items after it take. Named, as the service's statements are: parsed once per connection.
 */
const leanAllocateChunk = (couponId: string, items: Allocation[], operationId: string) => ({
  name: 'bench-lean-allocate-chunk',
  text: `WITH items AS (
           SELECT a.member_id, a.cents, a.ord, (sum(a.cents) OVER () - sum(a.cents) OVER (ORDER BY a.ord))::int8 AS later
           FROM unnest($3::text[], $4::int8[]) WITH ORDINALITY AS a(member_id, cents, ord)
         ), chunk AS (
           SELECT sum(cents)::int8 AS total FROM items
         ), coupon AS (
           UPDATE coupons c SET balance_cents = c.balance_cents - k.total, updated_at = now()
           FROM chunk k
           WHERE c.coupon_id = $1 AND c.balance_cents >= k.total AND now() BETWEEN c.valid_from AND c.valid_until
           RETURNING c.balance_cents
         ), held AS (
           INSERT INTO member_coupons (coupon_id, member_id, enterprise_id, allocated_cents, unused_cents)
           SELECT $1, i.member_id, $2, i.cents, i.cents FROM items i CROSS JOIN coupon
           ON CONFLICT (coupon_id, member_id) DO UPDATE SET
             allocated_cents = member_coupons.allocated_cents + EXCLUDED.allocated_cents,
             unused_cents = member_coupons.unused_cents + EXCLUDED.unused_cents,
             updated_at = now()
           RETURNING member_id, unused_cents
         )
         INSERT INTO coupon_history (operation_month, operation_id, coupon_id, enterprise_id, member_id, action, outcome, amount_cents,
                                     coupon_balance_after_cents, member_balance_after_cents)
         SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date, $5, $1, $2, i.member_id, 'allocate', 'applied', i.cents, c.balance_cents + i.later, h.unused_cents
         FROM items i CROSS JOIN coupon c JOIN held h ON h.member_id = i.member_id
         ORDER BY i.ord`,
  values: [couponId, ENTERPRISE, items.map((a) => a.memberId), items.map((a) => a.cents), operationId],
});

/** The reference's work the leanest way: one statement per chunk (`leanAllocateChunk`), chunks in the same order. */
async function runCouponLean(ctx: ScenarioContext, coupons: CouponPlan, round: number): Promise<ReferenceRun> {
  const prefix = `bench-lean-alloc-${round}-`;
  const chunks = couponChunks(coupons);
  const run = await measureHandWritten(ctx, chunks.length, async (client, task) => {
    const { couponId, items } = chunks[task]!;
    const written = await client.query(leanAllocateChunk(couponId, items, `${prefix}${couponId}`));
    // The reference throws here too: a chunk that wrote nothing must not pass for a fast one.
    if (written.rowCount !== items.length) throw new Error(`lean: coupon ${couponId} missing, not valid or overdrawn`);
  });
  await checkLedger(ctx.env.pool, prefix, ctx.members);
  return run;
}

/** One round over coupons seeded by `seedCoupons`: the service and both references (`inTurn`), each from full balances. */
export async function benchCoupons(ctx: ScenarioContext, coupons: CouponPlan, round: number): Promise<Round> {
  await vacuum(ctx.env.pool, ['coupons']);
  const reset = () => resetCoupons(ctx.env.pool);
  return inTurn<Round>(round, {
    service: () =>
      phase(
        `coupons.allocate round ${round}: service, ${ctx.members} allocations over ${coupons.length} coupons`,
        'allocations',
        () => runCouponService(ctx, coupons, round),
        reset,
      ),
    reference: () =>
      phase(
        `coupons.allocate round ${round}: hand-written reference, ${ctx.connections} connections`,
        'allocations',
        () => runCouponReference(ctx, coupons, round),
        reset,
      ),
    lean: () =>
      phase(
        `coupons.allocate round ${round}: lean reference (one statement per chunk), ${ctx.connections} connections`,
        'allocations',
        () => runCouponLean(ctx, coupons, round),
        reset,
      ),
  });
}
