import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../../support/ledger-check.js';
import { type ServiceProcess, serviceEnv, spawnService, stopChildren } from '../../support/processes.js';
import { waitForFinal } from '../../support/progress.js';

// Fault: two conflicting operations on the same 10,000 members, published back to back, go to two
// worker processes at once. The later one's chunks wait for the earlier one, so every item ends as
// in publication order: the later publication wins for every member and nothing is `superseded`.
let h: Harness;
let workers: ServiceProcess[] = [];
const { published, publish } = ledgerPublisher(() => h);
const members = memberIds('race', 10_000);
beforeAll(async () => {
  h = await startHarness('rel_conflict', { workers: false });
  workers = [0, 1].map(() => spawnService('worker', serviceEnv(h.config, { WORKER_CONCURRENCY: '8' })));
  await Promise.all(workers.map((w) => w.ready()));
  const assoc = await publish({
    operationId: 'race-assoc',
    kind: 'members.associate',
    enterpriseId: 'E-race',
    memberIds: members,
  });
  await waitForFinal(h.service.db, [assoc], 120_000);
});
afterAll(async () => {
  await stopChildren();
  await h?.close();
});

async function sharingCounts(): Promise<{ enabled: number; disabled: number }> {
  const { rows } = await sql<{ enabled: number; disabled: number }>`
    SELECT count(*) FILTER (WHERE sharing_enabled)::int AS enabled, count(*) FILTER (WHERE NOT sharing_enabled)::int AS disabled
    FROM members WHERE enterprise_id = 'E-race'`.execute(h.service.db);
  return rows[0]!;
}

describe('enable and disable of the same 10,000 members, back to back, on two worker processes', () => {
  // The second operation lists the members in reverse, so its first chunks meet the first
  // operation's last ones while both are in flight.
  it.each([
    { first: true, then: false },
    { first: false, then: true },
  ])(
    'enabled=$first then enabled=$then: applied as published, the later publication wins for every member',
    async ({ first, then }) => {
      const earlier = await publish({
        operationId: `race-${first}-then-${then}-a`,
        kind: 'sharing.set',
        enterpriseId: 'E-race',
        enabled: first,
        memberIds: members,
      });
      const later = await publish({
        operationId: `race-${first}-then-${then}-b`,
        kind: 'sharing.set',
        enterpriseId: 'E-race',
        enabled: then,
        memberIds: [...members].reverse(),
      });
      const views = await waitForFinal(h.service.db, [earlier, later], 120_000);
      expect(views.map((v) => v.status)).toEqual(['completed', 'completed']);
      expect(await sharingCounts()).toEqual(then ? { enabled: 10_000, disabled: 0 } : { enabled: 0, disabled: 10_000 });

      const { rows } = await sql<{ operation_id: string; outcome: string; n: number }>`
      SELECT operation_id, outcome, count(*)::int AS n FROM sharing_history WHERE operation_id IN (${earlier}, ${later})
      GROUP BY 1, 2 ORDER BY 1, 2`.execute(h.service.db);
      expect(rows.filter((r) => r.outcome === 'superseded')).toEqual([]);
      // Every item's outcome and history row as in publication order, and the final state.
      const report = await expectLedgerConsistent(h.service.db, published);
      expect(workers.every((w) => w.running())).toBe(true);
      console.info(
        `[reliability] conflicting operations enabled=${first} then ${then}: outcomes ${JSON.stringify(rows)}; ledger ${JSON.stringify(report)}`,
      );
    },
    180_000,
  );
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const window = (fromDays: number, untilDays: number) => ({
  validFrom: new Date(Date.now() + fromDays * DAY).toISOString(),
  validUntil: new Date(Date.now() + untilDays * DAY).toISOString(),
});

/** Usage records over `ids`, a tenth for a product nothing covers; `tag` keeps each batch's ids apart. */
const usage = (tag: string, ids: string[], count: number, hoursAgo: number) =>
  Array.from({ length: count }, (_, i) => ({
    recordId: `${tag}-${i}`,
    memberId: ids[(i * 7) % ids.length]!,
    product: i % 10 === 9 ? 'obs' : 'ecs',
    quantity: ['0.6', '1', '1.5', '0.25'][i % 4]!,
    amount: `${1 + (i % 5)}.${String((i * 13) % 100).padStart(2, '0')}`,
    usedAt: new Date(Date.now() - hoursAgo * HOUR).toISOString(),
  }));

describe('settlements of 3,000 members against the same master packages, on two worker processes', () => {
  // Published back to back without waiting: each settlement draws on what the ones before it left;
  // the disable waits for the settlement before it (arrears) and the one after it no longer draws on
  // the master's packages for the disabled members.
  it('draw, flag arrears and stop drawing exactly as in publication order', async () => {
    const enterpriseId = 'E-race-use';
    const ids = memberIds('race-u', 3_000);
    const payloads: Record<string, unknown>[] = [
      { kind: 'sharing.set-default', enterpriseId, shareWithNewMembers: true },
      { kind: 'members.associate', enterpriseId, memberIds: ids },
      {
        kind: 'packages.issue',
        enterpriseId,
        packages: [
          { packageId: 'RU-master-1', owner: 'master', product: 'ecs', unit: 'GB', quantity: '800', ...window(-5, 10) },
          {
            packageId: 'RU-master-2',
            owner: 'master',
            product: 'ecs',
            unit: 'GB',
            quantity: '1200',
            ...window(-5, 30),
          },
          ...ids.slice(0, 30).map((owner, i) => ({
            packageId: `RU-own-${i}`,
            owner,
            product: 'ecs',
            unit: 'GB',
            quantity: '2',
            ...window(-5, 30),
          })),
        ],
      },
      {
        kind: 'coupons.issue',
        enterpriseId,
        coupons: [
          {
            couponId: 'C-ru-1',
            faceValue: '3000.00',
            allocationMode: 'multiple',
            products: ['ecs'],
            ...window(-1, 30),
          },
          {
            couponId: 'C-ru-2',
            faceValue: '3000.00',
            allocationMode: 'multiple',
            products: ['ecs'],
            ...window(-1, 30),
          },
        ],
      },
      {
        kind: 'coupons.allocate',
        enterpriseId,
        couponId: 'C-ru-2',
        allocations: ids.slice(0, 600).map((memberId) => ({ memberId, amount: '2.00' })),
      },
      { kind: 'usage.settle', enterpriseId, records: usage('ru-a', ids, 2_000, 2) },
      { kind: 'sharing.set', enterpriseId, enabled: false, memberIds: ids.slice(0, 1_500).reverse() },
      { kind: 'usage.settle', enterpriseId, records: usage('ru-b', ids, 1_500, 1) },
      { kind: 'sharing.set', enterpriseId, enabled: true, memberIds: ids.slice(0, 500) },
      { kind: 'usage.settle', enterpriseId, records: usage('ru-c', ids, 500, 1) },
    ];
    const operationIds: string[] = [];
    for (const payload of payloads) operationIds.push(await publish(payload));
    const views = await waitForFinal(h.service.db, operationIds, 120_000);
    expect(views.every((v) => v.status === 'completed')).toBe(true);

    const { rows } = await sql<{ source: string; n: number }>`
      SELECT source, count(*)::int AS n FROM usage_lines WHERE enterprise_id = ${enterpriseId} GROUP BY 1 ORDER BY 1`.execute(
      h.service.db,
    );
    expect(rows.map((r) => r.source)).toEqual([
      'master_coupon',
      'master_package',
      'member_coupon',
      'own_package',
      'payg',
    ]);
    const { rows: flagged } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM sharing_history WHERE operation_id = ${operationIds[6]!} AND arrears_risk`.execute(
      h.service.db,
    );
    expect(flagged[0]!.n).toBeGreaterThan(0);
    // Every record, line, package and coupon as in publication order, and the invariants.
    const report = await expectLedgerConsistent(h.service.db, published);
    expect(workers.every((w) => w.running())).toBe(true);
    console.info(
      `[reliability] settlements on two worker processes: lines ${JSON.stringify(rows)}, ${flagged[0]!.n} flagged ` +
        `at risk of arrears; ledger ${JSON.stringify(report)}`,
    );
  }, 180_000);
});
