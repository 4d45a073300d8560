import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../../support/ledger-check.js';
import { serviceEnv, spawnService, stopChildren } from '../../support/processes.js';
import { waitForFinal, waitForProgress } from '../../support/progress.js';

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

describe('a worker killed with SIGKILL mid-batch', () => {
  it('leaves its stalled chunks to the next worker, which applies every item exactly once', async () => {
    const members = memberIds('kill', 20_000);
    const first = worker();
    await first.ready();
    const setup = [
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
    ];
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

    // Second kill: a fresh worker, killed in the middle of the allocation.
    const second = worker();
    await second.ready();
    const atSecondKill = await waitForProgress(h.service.db, allocate, (p) => p.chunksDone >= 5, {
      timeoutMs: 90_000,
      intervalMs: 10,
    });
    second.kill('SIGKILL');
    expect(await second.exited()).toMatchObject({ signal: 'SIGKILL' });
    const stalledAfterSecond = await h.service.queues.chunks.getActiveCount();

    expect(atFirstKill.final).toBe(false);
    expect(atSecondKill.final).toBe(false);
    // Jobs the dead workers held: still active under their locks, for someone else to take over.
    expect(stalledAfterFirst + stalledAfterSecond).toBeGreaterThan(0);

    const restartedAt = Date.now();
    const third = worker();
    await third.ready();
    const [sharingDone, allocateDone] = await waitForFinal(h.service.db, [sharing, allocate], 150_000);
    const recoveryMs = Date.now() - restartedAt;
    expect(sharingDone!.status).toBe('completed');
    expect(allocateDone!.status).toBe('completed');
    // A chunk the dead worker committed but never marked done counts toward a final status at once,
    // yet its job stays active until its lock expires and the stall check hands it to the third
    // worker, which finds it applied. Every job must get there.
    await expect.poll(() => h.service.queues.chunks.getActiveCount(), { timeout: 60_000, interval: 250 }).toBe(0);

    const report = await expectLedgerConsistent(h.service.db, published);
    expect(report.historyRows).toBe(20_000 + 1 + 20_000 + 5_000);
    console.info(
      `[reliability] SIGKILL: killed at sharing.set ${atFirstKill.chunksDone}/${atFirstKill.chunksTotal} chunks ` +
        `(${stalledAfterFirst} stalled) and coupons.allocate ${atSecondKill.chunksDone}/${atSecondKill.chunksTotal} ` +
        `(${stalledAfterSecond} stalled); the restarted worker finished both in ${(recoveryMs / 1000).toFixed(1)} s; ` +
        `ledger ${JSON.stringify(report)}`,
    );
    await third.stop();
  }, 300_000);
});
