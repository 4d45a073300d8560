import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuild } from '../support/build.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../support/ledger-check.js';
import { pollUntil, serviceEnv, spawnService, sparePort, stopChildren } from '../support/processes.js';
import { waitForFinal } from '../support/progress.js';
import { type HeldRowLock, holdMemberLock } from '../support/row-lock.js';

// What the image runs: `node dist/main.js all`, PID 1, no npm and no tsx in between. A deploy's
// SIGTERM must reach it, let the chunks in flight commit and end with exit code 0.
const GRACE_MS = 15_000;
let h: Harness;
let blocker: HeldRowLock | undefined;
const { published, publish } = ledgerPublisher(() => h);
beforeAll(async () => {
  await ensureBuild();
  h = await startHarness('compiled', { workers: false });
}, 240_000);
afterAll(async () => {
  await blocker?.end();
  await stopChildren();
  await h?.close();
});

const compiled = async () => {
  const port = await sparePort();
  const service = spawnService(
    'all',
    serviceEnv(h.config, {
      HOST: '127.0.0.1',
      PORT: String(port),
      WORKER_CONCURRENCY: '4',
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      // A configured deployment serves the board only behind credentials.
      DASHBOARD_USER: 'operator',
      DASHBOARD_PASSWORD: 'board-secret',
    }),
    { compiled: true },
  );
  await service.ready();
  return { service, url: `http://127.0.0.1:${port}` };
};

describe('the compiled service', () => {
  it('prints where its parts are, and GET / links them', async () => {
    const { service, url } = await compiled();
    for (const part of ['api', 'dashboard', 'metrics'])
      expect(service.output()).toMatch(new RegExp(`^benefits: ${part} +http://127\\.0\\.0\\.1:\\d+/`, 'm'));
    const root = await fetch(`${url}/`);
    expect(root.status).toBe(200);
    expect(await root.json()).toEqual({
      service: 'benefits-worker',
      links: {
        api: `${url}/v1/operations`,
        dashboard: `${url}/dashboard`,
        metrics: `${url}/metrics`,
        health: `${url}/healthz`,
        readiness: `${url}/readyz`,
      },
    });
    const basic = `Basic ${Buffer.from('operator:board-secret').toString('base64')}`;
    expect((await fetch(`${url}/dashboard`, { headers: { authorization: basic } })).status).toBe(200);
    await service.stop();
  });

  it('on SIGTERM during a batch lets the chunk in flight commit and exits 0', async () => {
    const members = memberIds('img', 6_000);
    const { service } = await compiled();
    await waitForFinal(h.service.db, [
      await publish({ operationId: 'img-assoc', kind: 'members.associate', enterpriseId: 'E-img', memberIds: members }),
    ]);
    // A row lock held by the test keeps chunk 30 inside its transaction when the signal arrives.
    const lock = await holdMemberLock(h.config.databaseUrl, members[3_000]!);
    blocker = lock;
    const sharing = await publish({
      operationId: 'img-enable',
      kind: 'sharing.set',
      enterpriseId: 'E-img',
      enabled: true,
      memberIds: members,
    });
    await lock.untilBlocking();
    service.kill('SIGTERM');
    const exited = service.exited(GRACE_MS + 10_000);
    await pollUntil('the service shutting down', async () =>
      service.output().includes('shutting down') ? true : undefined,
    );
    expect(service.running()).toBe(true); // waiting for the blocked chunk, not exiting under it
    await lock.release();
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(service.output()).toContain('"msg":"stopped"');
    expect(service.output()).not.toContain('"level":50');
    const chunk30 = await h.service.db
      .selectFrom('operation_chunks')
      .select('chunk_index')
      .where('operation_id', '=', sharing)
      .where('chunk_index', '=', 30)
      .execute();
    expect(chunk30).toHaveLength(1);

    const { service: next } = await compiled();
    const [done] = await waitForFinal(h.service.db, [sharing], 120_000);
    expect(done!.status).toBe('completed');
    await expectLedgerConsistent(h.service.db, published);
    await next.stop();
  }, 240_000);
});
