import type { Job } from 'bullmq';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunksPerJob } from '../../src/domain/chunk-plan.js';
import { createLogger } from '../../src/logger.js';
import { chunkJobOptions } from '../../src/queue/job-options.js';
import { createChunkProcessor } from '../../src/workers/chunk.processor.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { pollUntil } from '../support/processes.js';
import { scrapeTotal } from '../support/prometheus-text.js';

// One chunk attempt only, so a poisoned chunk fails at once and the operation ends `failed`. The
// reconciler runs often, with a short grace, so a test of it sees it act within seconds.
let h: Harness;
beforeAll(async () => {
  h = await startHarness('control', {
    env: { CHUNK_ATTEMPTS: '1', RECONCILE_INTERVAL_MS: '300', RECONCILE_GRACE_MS: '1000' },
  });
});
afterAll(async () => h?.close());

async function events(operationId: string) {
  const jobs = await h.service.queues.events.getJobs(['waiting', 'prioritized', 'completed'], 0, 1000);
  return jobs.filter((j) => j.data.operationId === operationId).map((j) => ({ name: j.name, ...j.data }));
}

describe('completion events', () => {
  it('announce every finished operation once on the outbound queue', async () => {
    const operationId = await h.publish({
      kind: 'members.associate',
      enterpriseId: 'E-ev',
      memberIds: ['ev-1', 'stranger@x'],
    });
    await h.waitForOperation(operationId);
    // The event carries the final status, so it is enqueued just after the status is written.
    await expect.poll(async () => (await events(operationId)).length, { timeout: 5_000 }).toBeGreaterThan(0);
    const published = await events(operationId);
    expect(published).toEqual([
      expect.objectContaining({
        name: 'operation.finished',
        operationId,
        kind: 'members.associate',
        status: 'completed',
        counts: { applied: 2, unchanged: 0, superseded: 0, rejected: 0 },
      }),
    ]);
    expect(h.service.queues.events.name).toBe('benefits-events');
  });
});

describe('cancel', () => {
  it('drops chunks not yet applied and keeps the applied ones recorded', async () => {
    const ids = memberIds('cx', 500);
    await h.waitForOperation(await h.publish({ kind: 'members.associate', enterpriseId: 'E-cx', memberIds: ids }));
    await h.service.workers!.chunks.pause();
    let operationId: string;
    try {
      operationId = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-cx', enabled: true, memberIds: ids });
      const processor = createChunkProcessor({ db: h.service.db, logger: createLogger('silent') });
      const first = (await h.service.queues.chunks.getJob(`${operationId}-chunk-0`)) as Job;
      const second = (await h.service.queues.chunks.getJob(`${operationId}-chunk-1`)) as Job;
      expect(await processor(first)).toMatchObject([{ outcome: 'applied' }]);

      const cancelled = await h.request('POST', `/v1/operations/${operationId}/cancel`);
      expect(cancelled).toMatchObject({
        status: 200,
        body: { status: 'cancelled', progress: { chunksDone: 1, chunksTotal: 5 } },
      });
      expect(cancelled.body.finishedAt).not.toBeNull();
      // A chunk already fetched before the cancel is skipped when it runs.
      expect(await processor(second)).toEqual([{ outcome: 'cancelled' }]);
      expect(await h.waitingChunkJobs(operationId)).toHaveLength(0);
    } finally {
      h.service.workers!.chunks.resume();
    }
    const history = await h.service.db
      .selectFrom('sharing_history')
      .select('member_id')
      .where('operation_id', '=', operationId)
      .execute();
    expect(history).toHaveLength(100);
    expect((await h.request('GET', `/v1/enterprises/E-cx`)).body.sharingEnabledCount).toBe(100);
    expect((await events(operationId)).map((e) => e.status)).toEqual(['cancelled']);
    expect((await h.request('POST', `/v1/operations/${operationId}/cancel`)).status).toBe(200);
    const done = await h.waitForOperation(
      await h.publish({ kind: 'sharing.set-default', enterpriseId: 'E-cx', shareWithNewMembers: true }),
    );
    expect(await h.request('POST', `/v1/operations/${done.operationId}/cancel`)).toMatchObject({
      status: 409,
      body: { error: 'already_final', status: 'completed' },
    });
    expect((await h.request('POST', '/v1/operations/nope/cancel')).status).toBe(404);
  });
});

describe('retry', () => {
  it('retries only the failed chunks of a failed operation', async () => {
    const ids = memberIds('rt', 300);
    await h.waitForOperation(await h.publish({ kind: 'members.associate', enterpriseId: 'E-rt', memberIds: ids }));
    // Poison one member: any history row for it fails, so its chunk (the second) fails.
    await sql`
      CREATE FUNCTION poison() RETURNS trigger AS $$
      BEGIN RAISE EXCEPTION 'poisoned member %', NEW.member_id; END $$ LANGUAGE plpgsql`.execute(h.service.db);
    await sql`
      CREATE TRIGGER poison BEFORE INSERT ON sharing_history FOR EACH ROW
      WHEN (NEW.member_id = ${sql.lit(ids[150]!)} AND NEW.action = 'enable') EXECUTE FUNCTION poison()`.execute(
      h.service.db,
    );
    const operationId = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-rt', enabled: true, memberIds: ids });
    const failed = await h.waitForOperation(operationId);
    expect(failed).toMatchObject({
      status: 'failed',
      progress: { chunksDone: 3, chunksTotal: 3, itemsDone: 200 },
      counts: { applied: 200 },
    });
    expect((await h.request('POST', `/v1/operations/${operationId}/retry`)).status).toBe(202);
    // Still poisoned: it fails again, and can be retried again once the cause is gone.
    expect((await h.waitForOperation(operationId)).status).toBe('failed');
    await sql`DROP TRIGGER poison ON sharing_history`.execute(h.service.db);
    const retry = await h.request('POST', `/v1/operations/${operationId}/retry`);
    expect(retry).toMatchObject({ status: 202, body: { retriedChunks: [1] } });
    const done = await h.waitForOperation(operationId);
    expect(done).toMatchObject({
      status: 'completed',
      progress: { chunksDone: 3, chunksTotal: 3, itemsDone: 300 },
      counts: { applied: 300 },
    });
    // Who retried it: the harness's admin key, as for who published it.
    expect(done.retriedBy).toMatch(/^key_/);
    expect(done.retriedBy).toBe(done.publishedBy);
    const rows = await h.service.db
      .selectFrom('sharing_history')
      .select('member_id')
      .where('operation_id', '=', operationId)
      .execute();
    expect(rows).toHaveLength(300);
    expect((await h.request('POST', `/v1/operations/${operationId}/retry`)).body).toEqual({
      error: 'not_failed',
      status: 'completed',
    });
    // Each event follows its status: wait for the last one before comparing them all.
    await expect.poll(async () => (await events(operationId)).length, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
    expect((await events(operationId)).map((e) => e.status).sort()).toEqual(['completed', 'failed', 'failed']);
  });
});

describe('jobs of several chunks', () => {
  // 300 chunks go two to a job (chunksPerJob): a failed chunk is retried with its job, whose
  // other chunk finds itself applied; cancel removes the jobs by the id of their first chunk.
  const ids = memberIds('gj', 30_000);
  beforeAll(async () => {
    await h.waitForOperation(await h.publish({ kind: 'members.associate', enterpriseId: 'E-gj', memberIds: ids }));
    await sql`
      CREATE FUNCTION poison_gj() RETURNS trigger AS $$
      BEGIN RAISE EXCEPTION 'poisoned member %', NEW.member_id; END $$ LANGUAGE plpgsql`.execute(h.service.db);
  }, 60_000);

  it('fail, and retry, only the chunk that failed', async () => {
    expect(chunksPerJob(300)).toBe(2);
    await sql`
      CREATE TRIGGER poison_gj BEFORE INSERT ON sharing_history FOR EACH ROW
      WHEN (NEW.member_id = ${sql.lit(ids[550]!)}) EXECUTE FUNCTION poison_gj()`.execute(h.service.db);
    const operationId = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-gj', enabled: true, memberIds: ids });
    expect(await h.waitForOperation(operationId, 60_000)).toMatchObject({
      status: 'failed',
      progress: { chunksDone: 300, chunksTotal: 300, itemsDone: 29_900 },
      counts: { applied: 29_900 },
    });
    // Chunk 5 failed; chunk 4, in the same job, was applied.
    const chunks = await h.service.db
      .selectFrom('operation_chunks')
      .select(['chunk_index', 'status'])
      .where('operation_id', '=', operationId)
      .where('chunk_index', 'in', [4, 5])
      .orderBy('chunk_index')
      .execute();
    expect(chunks).toEqual([
      { chunk_index: 4, status: 'applied' },
      { chunk_index: 5, status: 'failed' },
    ]);
    await sql`DROP TRIGGER poison_gj ON sharing_history`.execute(h.service.db);
    const retry = await h.request('POST', `/v1/operations/${operationId}/retry`);
    expect(retry).toMatchObject({ status: 202, body: { retriedChunks: [5] } });
    expect(await h.waitForOperation(operationId)).toMatchObject({
      status: 'completed',
      progress: { chunksDone: 300, itemsDone: 30_000 },
      counts: { applied: 30_000 },
    });
    const history = await h.service.db
      .selectFrom('sharing_history')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('operation_id', '=', operationId)
      .executeTakeFirstOrThrow();
    expect(Number(history.n)).toBe(30_000);
  }, 120_000);

  it('retry finds a chunk enqueued alone, as before chunks were grouped', async () => {
    await h.service.workers!.chunks.pause();
    let operationId: string;
    try {
      operationId = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-gj', enabled: false, memberIds: ids });
      // What a version that enqueued one chunk to a job left for chunks 4 and 5: the first holds
      // the id of the group both now belong to.
      const queue = h.service.queues.chunks;
      const group = (await queue.getJob(`${operationId}-chunk-4`)) as Job;
      await group.remove();
      for (const index of [4, 5]) {
        const offset = index * 100;
        await queue.add(
          'chunk',
          { operationId, chunkIndex: index, offset, items: ids.slice(offset, offset + 100) },
          { ...chunkJobOptions(1), jobId: `${operationId}-chunk-${index}` },
        );
      }
      await sql`
        CREATE TRIGGER poison_gj BEFORE INSERT ON sharing_history FOR EACH ROW
        WHEN (NEW.member_id = ${sql.lit(ids[550]!)}) EXECUTE FUNCTION poison_gj()`.execute(h.service.db);
    } finally {
      h.service.workers!.chunks.resume();
    }
    expect(await h.waitForOperation(operationId, 60_000)).toMatchObject({
      status: 'failed',
      progress: { chunksDone: 300, itemsDone: 29_900 },
    });
    await sql`DROP TRIGGER poison_gj ON sharing_history`.execute(h.service.db);
    expect((await h.request('POST', `/v1/operations/${operationId}/retry`)).body).toMatchObject({
      retriedChunks: [5],
    });
    expect(await h.waitForOperation(operationId)).toMatchObject({
      status: 'completed',
      counts: { applied: 30_000 },
    });
  }, 120_000);

  it('are removed from the queue when their operation is cancelled', async () => {
    await h.service.workers!.chunks.pause();
    try {
      const operationId = await h.publish({
        kind: 'sharing.set',
        enterpriseId: 'E-gj',
        enabled: false,
        memberIds: ids,
      });
      expect(await h.waitingChunkJobs(operationId)).toHaveLength(150);
      expect((await h.request('POST', `/v1/operations/${operationId}/cancel`)).body).toMatchObject({
        status: 'cancelled',
        progress: { chunksDone: 0, chunksTotal: 300 },
      });
      expect(await h.waitingChunkJobs(operationId)).toHaveLength(0);
    } finally {
      h.service.workers!.chunks.resume();
    }
  }, 60_000);
});

describe('the reconciler', () => {
  const reenqueued = () => scrapeTotal(h.service.url!, 'benefits_chunks_reenqueued_total');

  /** Publishes with the chunk workers paused, then removes the jobs of `lost` chunks, as a lost queue would. */
  async function publishAndLose(body: Record<string, unknown>, lost: (chunkIndex: number) => boolean) {
    await h.service.workers!.chunks.pause();
    try {
      const operationId = await h.publish(body);
      const queue = h.service.queues.chunks;
      const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed'], 0, -1);
      const removed = jobs.filter((job) => job.data.operationId === operationId && lost(job.data.chunkIndex));
      for (const job of removed) await job.remove();
      return { operationId, removed: removed.length };
    } finally {
      h.service.workers!.chunks.resume();
    }
  }

  it('enqueues again only the chunks neither applied nor queued, and the operation completes', async () => {
    const ids = memberIds('rc', 3_000);
    await h.waitForOperation(await h.publish({ kind: 'members.associate', enterpriseId: 'E-rc', memberIds: ids }));
    const before = await reenqueued();
    const { operationId, removed } = await publishAndLose(
      { kind: 'sharing.set', enterpriseId: 'E-rc', enabled: true, memberIds: ids },
      (chunkIndex) => chunkIndex % 3 === 0,
    );
    expect(removed).toBe(10);
    expect(await h.waitForOperation(operationId, 60_000)).toMatchObject({
      status: 'completed',
      counts: { applied: 3_000 },
    });
    expect((await reenqueued()) - before).toBe(10);
    const history = await h.service.db
      .selectFrom('sharing_history')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('operation_id', '=', operationId)
      .executeTakeFirstOrThrow();
    expect(Number(history.n)).toBe(3_000);
  }, 120_000);

  it('keeps an ordered operation in order: its lost jobs come back from the first unapplied one', async () => {
    const ids = memberIds('rco', 2_000);
    await h.waitForOperation(await h.publish({ kind: 'members.associate', enterpriseId: 'E-rco', memberIds: ids }));
    const window = {
      validFrom: new Date(Date.now() - 86_400_000).toISOString(),
      validUntil: new Date(Date.now() + 86_400_000).toISOString(),
    };
    await h.waitForOperation(
      await h.publish({
        kind: 'coupons.issue',
        enterpriseId: 'E-rco',
        coupons: [
          { couponId: 'C-rco', faceValue: '5000.00', allocationMode: 'multiple', products: ['ecs'], ...window },
        ],
      }),
    );
    const before = await reenqueued();
    // Every job of the allocation lost but the first: the first hands over to a job that is gone.
    const { operationId, removed } = await publishAndLose(
      {
        kind: 'coupons.allocate',
        enterpriseId: 'E-rco',
        couponId: 'C-rco',
        allocations: ids.map((memberId) => ({ memberId, amount: '1.50' })),
      },
      (chunkIndex) => chunkIndex > 0,
    );
    expect(removed).toBe(19);
    // Within seconds, not after the ten-minute handover delay.
    expect(await h.waitForOperation(operationId, 60_000)).toMatchObject({
      status: 'completed',
      counts: { applied: 2_000 },
    });
    expect((await reenqueued()) - before).toBe(19);
    const { rows } = await sql<{ ok: boolean }>`
      SELECT bool_and(balance_cents = 500000 - 2000 * 150) AS ok FROM coupons WHERE coupon_id = 'C-rco'`.execute(
      h.service.db,
    );
    expect(rows[0]!.ok).toBe(true);
  }, 120_000);

  it('deletes the items of operations final for ITEM_RETENTION_DAYS, keeping failed chunks for a retry', async () => {
    const ids = memberIds('rr', 500);
    const done = await h.publish({ kind: 'members.associate', enterpriseId: 'E-rr', memberIds: ids });
    await h.waitForOperation(done);
    await sql`
      CREATE FUNCTION poison_rr() RETURNS trigger AS $$
      BEGIN RAISE EXCEPTION 'poisoned member %', NEW.member_id; END $$ LANGUAGE plpgsql`.execute(h.service.db);
    await sql`
      CREATE TRIGGER poison_rr BEFORE INSERT ON sharing_history FOR EACH ROW
      WHEN (NEW.member_id = ${sql.lit(ids[250]!)}) EXECUTE FUNCTION poison_rr()`.execute(h.service.db);
    const failed = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-rr', enabled: true, memberIds: ids });
    expect((await h.waitForOperation(failed)).status).toBe('failed');
    await sql`DROP TRIGGER poison_rr ON sharing_history`.execute(h.service.db);
    const stored = async (operationId: string) =>
      (
        await h.service.db
          .selectFrom('operation_items')
          .select('chunk_index')
          .where('operation_id', '=', operationId)
          .orderBy('chunk_index')
          .execute()
      ).map((row) => row.chunk_index);
    expect(await stored(done)).toEqual([0, 1, 2, 3, 4]);
    // 29 days on, nothing goes; 31 days on, all but the failed chunk's job.
    const age = (days: number) =>
      sql`UPDATE operations SET finished_at = now() - make_interval(days => ${days})
          WHERE operation_id IN (${done}, ${failed})`.execute(h.service.db);
    await age(29);
    await pollUntil('a reconciler pass', async () => (await h.service.workers!.reconciler.runOnce()) ?? undefined);
    expect(await stored(done)).toHaveLength(5);
    await age(31);
    await pollUntil('a reconciler pass', async () => (await h.service.workers!.reconciler.runOnce()) ?? undefined);
    expect(await stored(done)).toEqual([]);
    expect(await stored(failed)).toEqual([2]);
    // The operation and its counts stay; the failed chunk is still retried from Postgres.
    await h.service.queues.chunks.clean(0, 10_000, 'failed');
    expect((await h.request('POST', `/v1/operations/${failed}/retry`)).status).toBe(202);
    expect(await h.waitForOperation(failed)).toMatchObject({ status: 'completed', counts: { applied: 500 } });
    expect((await h.request('GET', `/v1/operations/${done}`)).body).toMatchObject({ status: 'completed' });
  }, 120_000);
});
