import type pg from 'pg';
import { inTransaction, type ReferenceRun, slices } from './common.js';
import { BenchCheckError, type ScenarioContext, startPhase } from './scenario.js';
import { checkSettlementLedger } from './settle-ledger.js';
import { type BenchRecord, enterpriseIds, type SettlePlan, type SettleRun } from './settle-plan.js';
import { type CouponState, DrawState, type PackageState, type Settled } from './settle-rules.js';

/**
 * The settlement bench's hand-written reference: the chunks of 100 the service gets, each applied
 * in one transaction of plain pg statements (lock and read, decide with the bench's own rules,
 * write), each enterprise's chunks one after another, over as many connections as the service has.
 */

interface Chunk {
  enterpriseId: string;
  operationId: string;
  records: BenchRecord[];
}

/**
 * `connections` clients applying `chunks` in the order given, each enterprise's one after the other:
 * a free client takes the first chunk whose enterprise has none running, or waits for one to end.
 */
async function runInEnterpriseOrder(
  pool: pg.Pool,
  connections: number,
  chunks: readonly Chunk[],
  apply: (client: pg.PoolClient, chunk: Chunk) => Promise<void>,
): Promise<number> {
  const queues = new Map<string, { next: number; tasks: number[] }>();
  for (const [i, c] of chunks.entries()) {
    const queue = queues.get(c.enterpriseId) ?? { next: 0, tasks: [] };
    queue.tasks.push(i);
    queues.set(c.enterpriseId, queue);
  }
  const running = new Set<string>();
  let waiting: (() => void)[] = [];
  /** The chunk to run next, 'wait' when every enterprise with chunks left has one running, null when none are left. */
  const take = (): number | 'wait' | null => {
    let best: { enterpriseId: string; task: number } | null = null;
    let left = false;
    for (const [enterpriseId, q] of queues) {
      if (q.next === q.tasks.length) continue;
      left = true;
      const task = q.tasks[q.next]!;
      if (!running.has(enterpriseId) && (best === null || task < best.task)) best = { enterpriseId, task };
    }
    if (best === null) return left ? 'wait' : null;
    running.add(best.enterpriseId);
    queues.get(best.enterpriseId)!.next += 1;
    return best.task;
  };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = await pool.connect();
      try {
        for (let task = take(); task !== null; task = take()) {
          if (task === 'wait') {
            await new Promise<void>((resolve) => waiting.push(resolve));
            continue;
          }
          const chunk = chunks[task]!;
          try {
            await apply(client, chunk);
          } finally {
            running.delete(chunk.enterpriseId);
            const wake = waiting;
            waiting = [];
            for (const resolve of wake) resolve();
          }
        }
      } finally {
        client.release();
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

type PackageRow = {
  package_id: string;
  owner_member_id: string | null;
  product: string;
  valid_from: Date;
  valid_until: Date;
  issued_seq: number;
  remaining_micros: number;
};
type CouponRow = {
  coupon_id: string;
  member_id: string | null;
  products: string[];
  valid_from: Date;
  valid_until: Date;
  issued_seq: number;
  unused_cents: number;
};

const toCoupon = (r: CouponRow): CouponState => ({
  couponId: r.coupon_id,
  member: r.member_id,
  products: r.products,
  from: r.valid_from.getTime(),
  until: r.valid_until.getTime(),
  seq: r.issued_seq,
  unused: r.unused_cents,
});

/**
 * One chunk by hand, in one transaction: lock and read what it may draw on, settle its records
 * with the bench's own rules, write the packages, balances and holdings drawn on, then the
 * records, their lines and their history rows.
 */
async function settleChunk(client: pg.PoolClient, chunk: Chunk): Promise<void> {
  const { enterpriseId, operationId, records } = chunk;
  const recordIds = records.map((r) => r.recordId);
  const memberIds = [...new Set(records.map((r) => r.memberId))];
  const products = [...new Set(records.map((r) => r.product))];
  await inTransaction(client, async () => {
    const before = await client.query(
      `SELECT record_id FROM usage_records WHERE enterprise_id = $1 AND record_id = ANY($2::text[])`,
      [enterpriseId, recordIds],
    );
    // The bench never settles a record twice: a record found settled is a broken reset, not a case to handle.
    if (before.rowCount !== 0)
      throw new BenchCheckError(`reference: ${before.rowCount} records of a chunk already settled`);
    const members = await client.query<{ member_id: string; sharing_enabled: boolean }>(
      `SELECT member_id, sharing_enabled FROM members WHERE enterprise_id = $1 AND member_id = ANY($2::text[])`,
      [enterpriseId, memberIds],
    );
    const sharing = new Map(members.rows.map((m) => [m.member_id, m.sharing_enabled]));
    const packages = await client.query<PackageRow>(
      `SELECT package_id, owner_member_id, product, valid_from, valid_until, issued_seq, remaining_micros FROM packages
       WHERE enterprise_id = $1 AND product = ANY($2::text[]) AND (owner_member_id IS NULL OR owner_member_id = ANY($3::text[]))
         AND remaining_micros > 0
       ORDER BY package_id FOR UPDATE`,
      [enterpriseId, products, memberIds],
    );
    const balances = await client.query<CouponRow>(
      `SELECT coupon_id, NULL AS member_id, products, valid_from, valid_until, issued_seq, balance_cents AS unused_cents FROM coupons
       WHERE enterprise_id = $1 AND products && $2::text[] AND balance_cents > 0
       ORDER BY coupon_id FOR UPDATE`,
      [enterpriseId, products],
    );
    const holdings = await client.query<CouponRow>(
      `SELECT mc.coupon_id, mc.member_id, c.products, c.valid_from, c.valid_until, c.issued_seq, mc.unused_cents
       FROM member_coupons mc JOIN coupons c ON c.coupon_id = mc.coupon_id
       WHERE mc.enterprise_id = $1 AND mc.member_id = ANY($2::text[]) AND mc.unused_cents > 0 AND c.products && $3::text[]
       ORDER BY mc.coupon_id, mc.member_id FOR UPDATE OF mc`,
      [enterpriseId, memberIds, products],
    );
    const packageStates = packages.rows.map((r): PackageState => ({
      packageId: r.package_id,
      owner: r.owner_member_id,
      product: r.product,
      from: r.valid_from.getTime(),
      until: r.valid_until.getTime(),
      seq: r.issued_seq,
      remaining: r.remaining_micros,
    }));
    const read = new Map(packageStates.map((p) => [p, p.remaining]));
    const couponStates = [...balances.rows, ...holdings.rows].map(toCoupon);
    const readCoupons = new Map(couponStates.map((c) => [c, c.unused]));
    const state = new DrawState(packageStates, couponStates);
    const settled: Settled[] = records.map((r) => {
      const member = sharing.get(r.memberId);
      if (member === undefined)
        throw new BenchCheckError(`reference: ${r.memberId} is not a member of ${enterpriseId}`);
      return state.settle(r, member);
    });
    await writeDraws(client, state, read, readCoupons);
    await writeSettled(client, enterpriseId, operationId, settled);
  });
}

async function writeDraws(
  client: pg.PoolClient,
  state: DrawState,
  read: Map<PackageState, number>,
  readCoupons: Map<CouponState, number>,
): Promise<void> {
  const packages = [...state.touchedPackages];
  if (packages.length > 0)
    await client.query(
      `UPDATE packages p SET remaining_micros = v.remaining, consumed_micros = p.consumed_micros + v.drawn, updated_at = now()
       FROM unnest($1::text[], $2::int8[], $3::int8[]) AS v(id, remaining, drawn) WHERE p.package_id = v.id`,
      [
        packages.map((p) => p.packageId),
        packages.map((p) => p.remaining),
        packages.map((p) => read.get(p)! - p.remaining),
      ],
    );
  const pots = [...state.touchedCoupons];
  const master = pots.filter((c) => c.member === null);
  if (master.length > 0)
    await client.query(
      `UPDATE coupons c SET balance_cents = v.unused, spent_cents = c.spent_cents + v.spent, updated_at = now()
       FROM unnest($1::text[], $2::int8[], $3::int8[]) AS v(id, unused, spent) WHERE c.coupon_id = v.id`,
      [master.map((c) => c.couponId), master.map((c) => c.unused), master.map((c) => readCoupons.get(c)! - c.unused)],
    );
  const held = pots.filter((c) => c.member !== null);
  if (held.length > 0)
    await client.query(
      `UPDATE member_coupons mc SET unused_cents = v.unused, spent_cents = mc.spent_cents + v.spent, updated_at = now()
       FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) AS v(id, member_id, unused, spent)
       WHERE mc.coupon_id = v.id AND mc.member_id = v.member_id`,
      [
        held.map((c) => c.couponId),
        held.map((c) => c.member),
        held.map((c) => c.unused),
        held.map((c) => readCoupons.get(c)! - c.unused),
      ],
    );
}

async function writeSettled(
  client: pg.PoolClient,
  enterpriseId: string,
  operationId: string,
  settled: readonly Settled[],
): Promise<void> {
  const inserted = await client.query<{ record_id: string; settled_seq: number }>(
    `INSERT INTO usage_records (enterprise_id, record_id, member_id, product, quantity_micros, amount_cents, used_at,
                               covered_micros, uncovered_micros, priced_cents, coupon_cents, payg_cents, operation_id)
     SELECT $1, r.id, r.member_id, r.product, r.quantity, r.amount, r.used_at, r.covered, r.uncovered, r.priced, r.coupon, r.payg, $2
     FROM unnest($3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::timestamptz[], $9::int8[], $10::int8[],
                 $11::int8[], $12::int8[], $13::int8[])
          WITH ORDINALITY AS r(id, member_id, product, quantity, amount, used_at, covered, uncovered, priced, coupon, payg, ord)
     ORDER BY r.ord
     RETURNING record_id, settled_seq`,
    [
      enterpriseId,
      operationId,
      settled.map((s) => s.record.recordId),
      settled.map((s) => s.record.memberId),
      settled.map((s) => s.record.product),
      settled.map((s) => s.record.quantity),
      settled.map((s) => s.record.amount),
      settled.map((s) => new Date(s.record.usedAt)),
      settled.map((s) => s.covered),
      settled.map((s) => s.uncovered),
      settled.map((s) => s.priced),
      settled.map((s) => s.coupon),
      settled.map((s) => s.payg),
    ],
  );
  const seq = new Map(inserted.rows.map((r) => [r.record_id, r.settled_seq]));
  const lines = settled.flatMap((s) => s.lines.map((l, i) => ({ s, l, no: i + 1 })));
  await client.query(
    `INSERT INTO usage_lines (enterprise_id, record_id, line_no, member_id, source, benefit_id, quantity_micros, amount_cents,
                             used_at, settled_seq)
     SELECT $1, l.id, l.no, l.member_id, l.source, l.benefit_id, l.quantity, l.amount, l.used_at, l.seq
     FROM unnest($2::text[], $3::int4[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::timestamptz[], $10::int8[])
          AS l(id, no, member_id, source, benefit_id, quantity, amount, used_at, seq)`,
    [
      enterpriseId,
      lines.map(({ s }) => s.record.recordId),
      lines.map(({ no }) => no),
      lines.map(({ s }) => s.record.memberId),
      lines.map(({ l }) => l.source),
      lines.map(({ l }) => l.benefitId),
      lines.map(({ l }) => l.quantity),
      lines.map(({ l }) => l.amount),
      lines.map(({ s }) => new Date(s.record.usedAt)),
      lines.map(({ s }) => seq.get(s.record.recordId)),
    ],
  );
  await client.query(
    `INSERT INTO usage_history (operation_month, operation_id, enterprise_id, record_id, member_id, outcome)
     SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date, $1, $2, h.id, h.member_id, 'applied' FROM unnest($3::text[], $4::text[]) AS h(id, member_id)`,
    [operationId, enterpriseId, settled.map((s) => s.record.recordId), settled.map((s) => s.record.memberId)],
  );
}

export async function runSettleReference(ctx: ScenarioContext, plan: SettlePlan, run: SettleRun, round: number) {
  const prefix = `bench-ref-settle-${round}-`;
  const chunks = run.operations.flatMap((o, k) =>
    slices(o.records).map((records) => ({ enterpriseId: o.enterpriseId, operationId: `${prefix}${k}`, records })),
  );
  await startPhase(ctx);
  const seconds = await runInEnterpriseOrder(ctx.env.pool, ctx.connections, chunks, settleChunk);
  const cpu = await ctx.cpu.stop();
  const result: ReferenceRun = {
    items: run.records,
    seconds,
    rate: run.records / seconds,
    connections: ctx.connections,
    cpu,
  };
  return {
    result,
    digest: await checkSettlementLedger(ctx.env.pool, enterpriseIds(plan), run.expected, prefix, 'reference'),
  };
}
