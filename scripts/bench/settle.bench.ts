import { log, type ReferenceRun, type ServiceRun, waitForOperations } from './common.js';
import { BenchCheckError, expectEqual, inTurn, measureService, phase, type ScenarioContext } from './scenario.js';
import { checkSettlementLedger } from './settle-ledger.js';
import { type DryRun, enterpriseIds, type SettlePlan, type SettleRun } from './settle-plan.js';
import { runSettleReference } from './settle-reference.js';
import { resetSettlement } from './settle-seed.js';

/**
 * `usage.settle` on hot rows (issue 20): every chunk of an enterprise draws on the same master
 * packages and coupons, so an enterprise's settlements apply one after another (the kind is
 * ordered, and each operation writes its enterprise's packages and coupons): the enterprises
 * (`--enterprises`) are what can run side by side. The service gets operations of 10,000
 * records (`--usage-batch`), the enterprises taking turns, published back to back; the
 * hand-written reference (`settle-reference.ts`) applies the same chunks of 100 in the same order,
 * each enterprise's one after another, over as many connections. Both sides start from the same
 * seeded state (`settle-seed.ts`) and must leave the same ledger (`settle-ledger.ts`).
 */

/** One round of the settlement bench: no lean side (one statement per chunk cannot decide a settlement). */
export interface SettleRound {
  service: ServiceRun;
  reference: ReferenceRun;
}

const mixLine = ({ totals: t, mix: m }: DryRun) => {
  const pct = (n: number) => `${((100 * n) / t.records).toFixed(0)}%`;
  return (
    `${t.records} records: ${pct(m.masterPackage)} draw on a master package, ${pct(m.reachCoupons)} reach the coupons, ` +
    `${pct(m.coupon)} paid from them, ${pct(m.payg)} pay-as-you-go; ${t.lines} lines; master packages left ${m.masterPackagesLeft}`
  );
};

async function runSettleService(ctx: ScenarioContext, plan: SettlePlan, run: SettleRun, round: number) {
  const prefix = `bench-settle-${round}-`;
  const operationIds = run.operations.map((_, k) => `${prefix}${k}`);
  const bodies = run.operations.map((o, k) => ({
    operationId: operationIds[k]!,
    kind: 'usage.settle' as const,
    enterpriseId: o.enterpriseId,
    records: o.records.map((r) => r.wire),
  }));
  const result = await measureService(ctx, run.records, async (published) => {
    for (const body of bodies) await ctx.producer.publish(body);
    published();
    const final = await waitForOperations(ctx.env.pool, operationIds, {
      timeoutMs: ctx.timeoutMs,
      label: 'usage.settle service',
      check: () => ctx.workers.assertAlive(),
      finished: ctx.finished,
    });
    const statuses = new Set([...final.values()].map((o) => o.status));
    expectEqual('usage.settle statuses', [...statuses].join(','), 'completed');
    expectEqual(
      'usage.settle applied',
      [...final.values()].reduce((n, o) => n + o.applied, 0),
      run.records,
    );
  });
  return {
    result,
    digest: await checkSettlementLedger(ctx.env.pool, enterpriseIds(plan), run.expected, prefix, 'service'),
  };
}

/** The end state each record count must come to, from the first side that settled it: every later side must match. */
const digests = new Map<number, string>();

function expectSameLedger(records: number, side: string, digest: string): void {
  const first = digests.get(records);
  if (first === undefined) digests.set(records, digest);
  else if (first !== digest)
    throw new BenchCheckError(
      `${side}: the ledger differs from the first side's (packages/coupons/holdings/records/lines ${digest} vs ${first})`,
    );
}

/** One round: the service and the reference (`inTurn`), each from "nothing settled", each checked against the same ledger. */
export async function benchSettle(
  ctx: ScenarioContext,
  plan: SettlePlan,
  run: SettleRun,
  round: number,
): Promise<SettleRound> {
  if (!digests.has(run.records)) log(`  usage.settle mix: ${mixLine(run.expected)}`);
  const reset = () => resetSettlement(ctx.env.pool, plan);
  const enterprises = plan.enterprises.length;
  const checked = async <T>(side: string, work: () => Promise<{ result: T; digest: string }>): Promise<T> => {
    const { result, digest } = await work();
    expectSameLedger(run.records, side, digest);
    return result;
  };
  return inTurn<SettleRound>(round, {
    service: () =>
      phase(
        `usage.settle round ${round}: service, ${run.records} records in ${run.operations.length} operations over ${enterprises} enterprises`,
        'records',
        () => checked('service', () => runSettleService(ctx, plan, run, round)),
        reset,
      ),
    reference: () =>
      phase(
        `usage.settle round ${round}: hand-written reference, ${ctx.connections} connections, each enterprise's chunks in order`,
        'records',
        () => checked('reference', () => runSettleReference(ctx, plan, run, round)),
        reset,
      ),
  });
}
