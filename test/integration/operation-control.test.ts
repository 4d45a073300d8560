import type { Job } from 'bullmq';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunksPerJob } from '../../src/domain/chunk-plan.js';
import { createLogger } from '../../src/logger.js';
import { chunkJobOptions } from '../../src/queue/job-options.js';
import { createChunkProcessor } from '../../src/workers/chunk.processor.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';

// One chunk attempt only, so a poisoned chunk fails at once and the operation ends `failed`.
let h: Harness;
beforeAll(async () => {
  h = await startHarness('control', { env: { CHUNK_ATTEMPTS: '1' } });
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
