import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../../support/ledger-check.js';
import { pollUntil, serviceEnv, spawnService, stopChildren } from '../../support/processes.js';
import { waitForFinal, waitForProgress } from '../../support/progress.js';
import { type HeldRowLock, holdMemberLock } from '../../support/row-lock.js';

// Fault: a deploy or a scale-down sends SIGTERM to a worker in the middle of a batch. It must stop
// taking chunks, let the running ones commit, release them in Redis and exit 0 within
// SHUTDOWN_GRACE_MS, leaving no chunk half-applied and nothing stalled for the next worker to wait on.
const GRACE_MS = 15_000;
let h: Harness;
let blocker: HeldRowLock | undefined;
const { published, publish } = ledgerPublisher(() => h);
beforeAll(async () => {
  h = await startHarness('rel_sigterm', { workers: false });
});
afterAll(async () => {
  await blocker?.end();
  await stopChildren();
  await h?.close();
});

const worker = () =>
  spawnService('worker', serviceEnv(h.config, { WORKER_CONCURRENCY: '8', SHUTDOWN_GRACE_MS: String(GRACE_MS) }));

describe('SIGTERM to a worker during a batch', () => {
  it('lets running chunks commit, exits 0 within the grace period, and leaves every chunk whole', async () => {
    const members = memberIds('term', 20_000);
    const first = worker();
    await first.ready();
    await waitForFinal(h.service.db, [
      await publish({
        operationId: 'term-assoc',
        kind: 'members.associate',
        enterpriseId: 'E-term',
        memberIds: members,
      }),
    ]);

    // A row lock held by the test keeps chunk 60 running (blocked inside its transaction) when the
    // signal arrives, so the test knows one chunk is mid-flight and must be let to commit.
    const lock = await holdMemberLock(h.config.databaseUrl, members[6_000]!);
    blocker = lock;
    const sharing = await publish({
      operationId: 'term-enable',
      kind: 'sharing.set',
      enterpriseId: 'E-term',
      enabled: true,
      memberIds: members,
    });
    await lock.untilBlocking();
    const atSignal = await waitForProgress(h.service.db, sharing, () => true);
    const signalledAt = Date.now();
    first.kill('SIGTERM');
    let exitedAt: number | null = null;
    const exited = first.exited(GRACE_MS + 10_000).then((how) => ((exitedAt = Date.now()), how));
    // The worker stops taking chunks and lets the others end; the blocked one is all it has left.
    await pollUntil(
      'the worker shutting down with only the blocked chunk active',
      async () =>
        first.output().includes('shutting down') && (await h.service.queues.chunks.getActiveCount()) === 1
          ? true
          : undefined,
      { timeoutMs: GRACE_MS, intervalMs: 20 },
    );
    // It waits for that chunk rather than exit under it.
    expect(first.running()).toBe(true);
    expect(first.output()).not.toContain('"msg":"stopped"');
    const releasedAt = Date.now();
    await lock.release();
    const exit = await exited;
    const exitMs = Date.now() - signalledAt;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitedAt!).toBeGreaterThanOrEqual(releasedAt);
    expect(exitMs).toBeLessThan(GRACE_MS);
    expect(first.output()).toContain('"msg":"stopped"');
    expect(first.output()).not.toContain('grace period over');

    // Stopped mid-batch, with nothing left active in Redis: no lock for the next worker to wait out.
    const stopped = await waitForProgress(h.service.db, sharing, () => true);
    expect(atSignal.final).toBe(false);
    expect(stopped.final).toBe(false);
    expect(await h.service.queues.chunks.getActiveCount()).toBe(0);

    // Every chunk is all or nothing: a claimed chunk has its 100 history rows, an unclaimed one none.
    const claimed = new Set(
      (
        await h.service.db
          .selectFrom('operation_chunks')
          .select('chunk_index')
          .where('operation_id', '=', sharing)
          .execute()
      ).map((r) => r.chunk_index),
    );
    const chunkOf = new Map(members.map((memberId, i) => [memberId, Math.floor(i / 100)]));
    const rowsPerChunk = new Map<number, number>();
    for (const { member_id } of await h.service.db
      .selectFrom('sharing_history')
      .select('member_id')
      .where('operation_id', '=', sharing)
      .execute()) {
      const chunk = chunkOf.get(member_id)!;
      rowsPerChunk.set(chunk, (rowsPerChunk.get(chunk) ?? 0) + 1);
    }
    const halfApplied = [...new Set([...claimed, ...rowsPerChunk.keys()])].filter(
      (c) => !claimed.has(c) || rowsPerChunk.get(c) !== 100,
    );
    expect(halfApplied).toEqual([]);
    expect(claimed.has(60)).toBe(true);
    expect(stopped.chunksDone).toBe(claimed.size);
    expect(stopped.itemsDone).toBe(claimed.size * 100);

    const restartedAt = Date.now();
    const second = worker();
    await second.ready();
    const [done] = await waitForFinal(h.service.db, [sharing], 120_000);
    const finishMs = Date.now() - restartedAt;
    expect(done!.status).toBe('completed');

    const report = await expectLedgerConsistent(h.service.db, published);
    console.info(
      `[reliability] SIGTERM: signalled at ${atSignal.chunksDone}/${atSignal.chunksTotal} chunks, exited 0 after ${exitMs} ms ` +
        `(grace ${GRACE_MS} ms) with ${claimed.size} chunks committed whole and none active; the next worker finished in ` +
        `${(finishMs / 1000).toFixed(1)} s; ledger ${JSON.stringify(report)}`,
    );
    await second.stop();
  }, 240_000);
});
