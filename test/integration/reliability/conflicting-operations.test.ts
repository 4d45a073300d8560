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
