import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../../support/ledger-check.js';
import { pollUntil, serviceEnv, spawnService, stopChildren } from '../../support/processes.js';
import { progressOf, waitForFinal } from '../../support/progress.js';

// Fault: Postgres drops the service's connections in the middle of chunk transactions (failover,
// restart, idle-session killer). A chunk whose transaction died must be retried with backoff and
// commit exactly once; a chunk whose COMMIT went through but whose answer was lost must, when
// retried, find itself applied. The worker process itself must survive it.
const WORKER = 'reliability-worker';
let h: Harness;
const { published, publish } = ledgerPublisher(() => h);
beforeAll(async () => {
  // API only: the chunks are applied by a worker process whose connections carry a name of their own.
  h = await startHarness('rel_pgkill', { workers: false });
});
afterAll(async () => {
  await stopChildren();
  await h?.close();
});

/** Terminates every connection the worker process holds to the test database; returns how many. */
async function terminateWorkerConnections(): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = ${WORKER}`.execute(h.service.db);
  return rows[0]!.n;
}

describe('Postgres connections lost during chunks', () => {
  it('retries the chunks with backoff and commits each exactly once', async () => {
    const url = new URL(h.config.databaseUrl);
    url.searchParams.set('application_name', WORKER);
    const worker = spawnService(
      'worker',
      serviceEnv({ ...h.config, databaseUrl: url.toString() }, { WORKER_CONCURRENCY: '4', CHUNK_ATTEMPTS: '10' }),
    );
    await worker.ready();
    const members = memberIds('pgkill', 20_000);
    await h.waitForOperation(
      await publish({
        operationId: 'pgkill-assoc',
        kind: 'members.associate',
        enterpriseId: 'E-pgkill',
        memberIds: members,
      }),
      120_000,
    );
    await h.waitForOperation(
      await publish({
        operationId: 'pgkill-issue',
        kind: 'coupons.issue',
        enterpriseId: 'E-pgkill',
        coupons: [
          {
            couponId: 'C-pgkill',
            faceValue: '50000.00',
            allocationMode: 'multiple',
            validFrom: new Date(Date.now() - 86_400_000).toISOString(),
            validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
            products: ['oss'],
          },
        ],
      }),
    );

    const sharing = await publish({
      operationId: 'pgkill-enable',
      kind: 'sharing.set',
      enterpriseId: 'E-pgkill',
      enabled: true,
      memberIds: members,
    });
    const allocations = members.slice(0, 3_000).map((memberId, i) => ({ memberId, amount: `${1 + (i % 5)}.25` }));
    const allocate = await publish({
      operationId: 'pgkill-allocate',
      kind: 'coupons.allocate',
      enterpriseId: 'E-pgkill',
      couponId: 'C-pgkill',
      allocations,
    });

    // Several rounds while the batch runs, each cutting whatever the workers and the API hold.
    const rounds: Array<{ terminated: number; chunksDone: number }> = [];
    // Each round waits for the workers to apply chunks again after the one before.
    const applied = async () =>
      (await progressOf(h.service.db, sharing))!.chunksDone + (await progressOf(h.service.db, allocate))!.chunksDone;
    const advanced = async (since: number) =>
      pollUntil(
        'a chunk applied since the last cut',
        async () => {
          const [now, sharingNow, allocateNow] = [
            await applied(),
            await progressOf(h.service.db, sharing),
            await progressOf(h.service.db, allocate),
          ];
          return now > since || (sharingNow!.final && allocateNow!.final) ? now : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 20 },
      );
    let done = await applied();
    for (let round = 0; round < 6; round += 1) {
      const progress = await progressOf(h.service.db, allocate);
      if (progress?.final) break;
      rounds.push({
        terminated: await terminateWorkerConnections(),
        chunksDone: (await progressOf(h.service.db, sharing))!.chunksDone,
      });
      done = await advanced(done);
    }
    // The process lives through it: it applied chunks again after the last cut, it did not crash.
    expect(worker.running(), `the worker process died:\n${worker.output().slice(-3_000)}`).toBe(true);
    const views = await waitForFinal(h.service.db, [sharing, allocate], 180_000);
    expect(views.map((v) => v.status)).toEqual(['completed', 'completed']);
    // The faults did hit chunks in flight, and those were retried.
    expect(rounds.filter((r) => r.terminated > 0).length).toBeGreaterThanOrEqual(2);
    const failedAttempts = worker
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"chunk failed"'));
    expect(failedAttempts.length).toBeGreaterThan(0);
    await worker.stop();
    expect(await worker.exited()).toEqual({ code: 0, signal: null });
    const retried = (await h.service.queues.chunks.getJobs(['completed'], 0, -1)).filter(
      (job) => job.attemptsMade > 1 || job.attemptsStarted > 1,
    );
    expect(retried.length).toBeGreaterThan(0);

    const report = await expectLedgerConsistent(h.service.db, published);
    expect(report.historyRows).toBe(20_000 + 1 + 20_000 + 3_000);
    console.info(
      `[reliability] pg_terminate_backend: ${rounds.length} rounds ended ${rounds.reduce((n, r) => n + r.terminated, 0)} ` +
        `connections (${JSON.stringify(rounds)}); ${failedAttempts.length} chunk attempts failed, ${retried.length} chunk jobs ` +
        `completed after a retry; ledger ${JSON.stringify(report)}; sample failure: ${failedAttempts[0]?.slice(0, 300)}`,
    );
  }, 240_000);
});
