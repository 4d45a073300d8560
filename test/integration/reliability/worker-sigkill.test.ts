import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../../support/ledger-check.js';
import { serviceEnv, spawnService, stopChildren } from '../../support/processes.js';
import { progressOf, waitForFinal, waitForProgress } from '../../support/progress.js';

// Fault: the worker process dies with SIGKILL (OOM killer, node lost) while chunk transactions are
// open. Its chunks stay "active" in Redis under a lock nobody renews; another worker takes them
// over once the lock expires (lockDuration 20 s, stalledInterval 10 s) and applies each once.
let h: Harness;
const { published, publish } = ledgerPublisher(() => h);
beforeAll(async () => {
  // API only: every chunk is applied by the worker processes this test starts and kills.
  h = await startHarness('rel_sigkill', { workers: false });
});
afterAll(async () => {
  await stopChildren();
  await h?.close();
});

const worker = () => spawnService('worker', serviceEnv(h.config, { WORKER_CONCURRENCY: '4' }));

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const window = (fromDays: number, untilDays: number) => ({
  validFrom: new Date(Date.now() + fromDays * DAY).toISOString(),
  validUntil: new Date(Date.now() + untilDays * DAY).toISOString(),
});

/**
 * A second enterprise for the settlement: its members share (switch on before they are associated),
 * two master packages that run out about halfway through, own packages for a few members, and two
 * coupons, one partly allocated: so that records draw on every tier and some reach pay-as-you-go.
 */
function settlementSetup(members: string[]): Record<string, unknown>[] {
  const enterpriseId = 'E-kill-use';
  return [
    { operationId: 'ku-default', kind: 'sharing.set-default', enterpriseId, shareWithNewMembers: true },
    { operationId: 'ku-assoc', kind: 'members.associate', enterpriseId, memberIds: members },
    {
      operationId: 'ku-packages',
      kind: 'packages.issue',
      enterpriseId,
      packages: [
        {
          packageId: 'KU-master-1',
          owner: 'master',
          product: 'ecs',
          unit: 'hour',
          quantity: '900',
          ...window(-10, 20),
        },
        {
          packageId: 'KU-master-2',
          owner: 'master',
          product: 'ecs',
          unit: 'hour',
          quantity: '600.5',
          ...window(-10, 40),
        },
        ...members.slice(0, 50).map((owner, i) => ({
          packageId: `KU-own-${i}`,
          owner,
          product: 'ecs',
          unit: 'hour',
          quantity: '1.25',
          ...window(-10, 40),
        })),
      ],
    },
    {
      operationId: 'ku-coupons',
      kind: 'coupons.issue',
      enterpriseId,
      coupons: [
        { couponId: 'C-ku-1', faceValue: '2500.00', allocationMode: 'multiple', products: ['ecs'], ...window(-1, 30) },
        { couponId: 'C-ku-2', faceValue: '1500.00', allocationMode: 'multiple', products: ['ecs'], ...window(-1, 10) },
      ],
    },
    {
      operationId: 'ku-allocate',
      kind: 'coupons.allocate',
      enterpriseId,
      couponId: 'C-ku-1',
      allocations: members.slice(0, 500).map((memberId, i) => ({ memberId, amount: `${1 + (i % 3)}.00` })),
    },
  ];
}

/**
 * 3,000 records over the members (some twice), a tenth of them for a product no package or coupon
 * covers, then a repeat of ten of them (`duplicate_item`) and one of another account (`not_a_member`).
 */
function settlementRecords(members: string[]) {
  const quantities = ['0.5', '1.25', '2', '0.333333'];
  const records = Array.from({ length: 3_000 }, (_, i) => ({
    recordId: `ku-r-${i}`,
    memberId: members[i % members.length]!,
    product: i % 10 === 9 ? 'obs' : 'ecs',
    quantity: quantities[i % quantities.length]!,
    amount: `${1 + (i % 7)}.${String((i * 37) % 100).padStart(2, '0')}`,
    usedAt: new Date(Date.now() - (1 + (i % 5)) * HOUR).toISOString(),
  }));
  return [...records, ...records.slice(0, 10), { ...records[0]!, recordId: 'ku-r-stranger', memberId: 'kill-0000000' }];
}

describe('a worker killed with SIGKILL mid-batch', () => {
  it('leaves its stalled chunks to the next worker, which applies every item exactly once', async () => {
    const members = memberIds('kill', 20_000);
    const useMembers = memberIds('ku', 2_500);
    const first = worker();
    await first.ready();
    const setup: string[] = [];
    for (const payload of settlementSetup(useMembers)) setup.push(await publish(payload));
    setup.push(
      await publish({
        operationId: 'kill-assoc',
        kind: 'members.associate',
        enterpriseId: 'E-kill',
        memberIds: members,
      }),
      await publish({
        operationId: 'kill-issue',
        kind: 'coupons.issue',
        enterpriseId: 'E-kill',
        coupons: [
          {
            couponId: 'C-kill',
            faceValue: '100000.00',
            allocationMode: 'multiple',
            validFrom: new Date(Date.now() - 86_400_000).toISOString(),
            validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
            products: ['ecs'],
          },
        ],
      }),
    );
    await waitForFinal(h.service.db, setup, 120_000);

    const sharing = await publish({
      operationId: 'kill-enable',
      kind: 'sharing.set',
      enterpriseId: 'E-kill',
      enabled: true,
      memberIds: members,
    });
    const allocations = members
      .slice(0, 5_000)
      .map((memberId, i) => ({ memberId, amount: `${1 + (i % 7)}.${String(i % 100).padStart(2, '0')}` }));
    const allocate = await publish({
      operationId: 'kill-allocate',
      kind: 'coupons.allocate',
      enterpriseId: 'E-kill',
      couponId: 'C-kill',
      allocations,
    });

    // First kill: in the middle of the sharing.set (its 200 chunks are ahead of the allocation's 50).
    const atFirstKill = await waitForProgress(h.service.db, sharing, (p) => p.chunksDone >= 40, {
      timeoutMs: 90_000,
      intervalMs: 10,
    });
    first.kill('SIGKILL');
    expect(await first.exited()).toMatchObject({ signal: 'SIGKILL' });
    const stalledAfterFirst = await h.service.queues.chunks.getActiveCount();

    // Second kill: a fresh worker, killed in the middle of the allocation and of a settlement of
    // another enterprise, published once the allocation is under way (30 chunks, one after another).
    const second = worker();
    await second.ready();
    await waitForProgress(h.service.db, allocate, (p) => p.chunksDone >= 2, { timeoutMs: 90_000, intervalMs: 10 });
    const settle = await publish({
      operationId: 'ku-settle',
      kind: 'usage.settle',
      enterpriseId: 'E-kill-use',
      records: settlementRecords(useMembers),
    });
    const atSettleKill = await waitForProgress(h.service.db, settle, (p) => p.chunksDone >= 3, {
      timeoutMs: 90_000,
      intervalMs: 10,
    });
    second.kill('SIGKILL');
    const atSecondKill = (await progressOf(h.service.db, allocate))!;
    expect(await second.exited()).toMatchObject({ signal: 'SIGKILL' });
    const stalledAfterSecond = await h.service.queues.chunks.getActiveCount();

    expect(atFirstKill.final).toBe(false);
    expect(atSecondKill.final).toBe(false);
    expect(atSettleKill.final).toBe(false);
    // Jobs the dead workers held: still active under their locks, for someone else to take over.
    expect(stalledAfterFirst + stalledAfterSecond).toBeGreaterThan(0);

    const restartedAt = Date.now();
    const third = worker();
    await third.ready();
    const [sharingDone, allocateDone, settleDone] = await waitForFinal(
      h.service.db,
      [sharing, allocate, settle],
      150_000,
    );
    const recoveryMs = Date.now() - restartedAt;
    expect(sharingDone!.status).toBe('completed');
    expect(allocateDone!.status).toBe('completed');
    expect(settleDone!.status).toBe('completed_with_rejections');
    // Disabling members that drew on the master's packages an hour ago flags them (arrears).
    const disable = await publish({
      operationId: 'ku-disable',
      kind: 'sharing.set',
      enterpriseId: 'E-kill-use',
      enabled: false,
      memberIds: useMembers.slice(0, 300),
    });
    await waitForFinal(h.service.db, [disable], 60_000);
    // A chunk the dead worker committed but never marked done counts toward a final status at once,
    // yet its job stays active until its lock expires and the stall check hands it to the third
    // worker, which finds it applied. Every job must get there.
    await expect.poll(() => h.service.queues.chunks.getActiveCount(), { timeout: 60_000, interval: 250 }).toBe(0);

    const report = await expectLedgerConsistent(h.service.db, published);
    const settlementRows = 2_500 + 52 + 2 + 500 + 3_000 + 300;
    expect(report.historyRows).toBe(20_000 + 1 + 20_000 + 5_000 + settlementRows);
    expect(report.records).toBe(3_000);
    const { rows: draws } = await sql<{ source: string; n: number }>`
      SELECT source, count(*)::int AS n FROM usage_lines GROUP BY 1 ORDER BY 1`.execute(h.service.db);
    // Every tier was reached, the master's packages used up; members that drew on them were flagged.
    expect(draws.map((d) => d.source)).toEqual([
      'master_coupon',
      'master_package',
      'member_coupon',
      'own_package',
      'payg',
    ]);
    const { rows: flagged } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM sharing_history WHERE operation_id = ${disable} AND arrears_risk`.execute(
      h.service.db,
    );
    expect(flagged[0]!.n).toBeGreaterThan(0);
    console.info(
      `[reliability] SIGKILL: killed at sharing.set ${atFirstKill.chunksDone}/${atFirstKill.chunksTotal} chunks ` +
        `(${stalledAfterFirst} stalled) and coupons.allocate ${atSecondKill.chunksDone}/${atSecondKill.chunksTotal} ` +
        `and usage.settle ${atSettleKill.chunksDone}/${atSettleKill.chunksTotal} ` +
        `(${stalledAfterSecond} stalled); the restarted worker finished all three in ${(recoveryMs / 1000).toFixed(1)} s; ` +
        `lines ${JSON.stringify(draws)}, ${flagged[0]!.n} flagged at risk of arrears; ` +
        `ledger ${JSON.stringify(report)}`,
    );
    await third.stop();
  }, 300_000);
});
