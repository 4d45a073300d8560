import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../../support/ledger-check.js';
import { pollUntil, type PrivateRedis, startPrivateRedis, stopChildren } from '../../support/processes.js';
import { progressOf, waitForFinal, waitForProgress } from '../../support/progress.js';
import { scrapeTotal } from '../../support/prometheus-text.js';

// Fault: the queue loses chunk jobs while Postgres keeps everything — a FLUSHALL by mistake in
// the middle of big batches, a publisher killed (SIGKILL) between recording an operation and
// enqueueing it, failed jobs removed before anyone retried them. Postgres holds every operation's
// items: the workers' reconciler enqueues what is missing, with no publisher action, and a retry
// rebuilds failed chunks from Postgres. The service runs against a redis-server of this file's own.
let redis: PrivateRedis;
let h: Harness;
const { published, publish } = ledgerPublisher(() => h);
const members = memberIds('lost', 100_000);
// The allocation's members of its own, so it runs beside the sharing batch instead of after it.
const holders = memberIds('lost-holder', 20_000);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

beforeAll(async () => {
  redis = await startPrivateRedis();
  h = await startHarness('rel_lost', {
    env: {
      REDIS_URL: redis.url,
      WORKER_CONCURRENCY: '4',
      CHUNK_ATTEMPTS: '3',
      RECONCILE_INTERVAL_MS: '300',
      RECONCILE_GRACE_MS: '1000',
    },
  });
  const assoc = await publish({
    operationId: 'lost-assoc',
    kind: 'members.associate',
    enterpriseId: 'E-lost',
    memberIds: [...members, ...holders],
  });
  const issue = await publish({
    operationId: 'lost-issue',
    kind: 'coupons.issue',
    enterpriseId: 'E-lost',
    coupons: [
      {
        couponId: 'C-lost',
        faceValue: '90000.00',
        allocationMode: 'multiple',
        validFrom: new Date(Date.now() - 86_400_000).toISOString(),
        validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
        products: ['ecs'],
      },
    ],
  });
  await waitForFinal(h.service.db, [assoc, issue], 300_000);
}, 360_000);
afterAll(async () => {
  await redis?.start();
  await h?.close();
  await redis?.dispose();
  await stopChildren();
});

const reenqueuedChunks = () => scrapeTotal(h.service.url!, 'benefits_chunks_reenqueued_total');

async function flushAll(): Promise<void> {
  const client = new Redis(redis.url);
  try {
    await client.flushall();
  } finally {
    client.disconnect();
  }
}

describe('Redis FLUSHALL in the middle of big batches', () => {
  it('a 100,000-member sharing.set and a 20,000-item coupons.allocate complete with no publisher action', async () => {
    const before = await reenqueuedChunks();
    const sharing = await publish({
      operationId: 'lost-sharing',
      kind: 'sharing.set',
      enterpriseId: 'E-lost',
      enabled: true,
      memberIds: members,
    });
    // It waits for the sharing batch (their claims conflict): a first FLUSHALL takes all its jobs,
    // a second one the rest of them once it is under way.
    const allocate = await publish({
      operationId: 'lost-allocate',
      kind: 'coupons.allocate',
      enterpriseId: 'E-lost',
      couponId: 'C-lost',
      allocations: holders.map((memberId, i) => ({ memberId, amount: `${2 + (i % 3)}.50` })),
    });
    const atFirst = await waitForProgress(h.service.db, sharing, (p) => p.chunksDone >= 100, {
      timeoutMs: 120_000,
      intervalMs: 10,
    });
    await flushAll();
    const sharingAt = (await progressOf(h.service.db, sharing))!;
    expect(sharingAt.final).toBe(false);
    await waitForProgress(h.service.db, allocate, (p) => p.chunksDone >= 20, { timeoutMs: 240_000, intervalMs: 10 });
    await flushAll();
    const allocateAt = (await progressOf(h.service.db, allocate))!;
    expect(allocateAt.final).toBe(false);

    await waitForFinal(h.service.db, [sharing, allocate], 300_000);
    const reenqueued = (await reenqueuedChunks()) - before;
    // What was unapplied at each flush came back, and nothing applied was enqueued again.
    expect(reenqueued).toBeGreaterThan(0);
    expect(reenqueued).toBeLessThanOrEqual(
      sharingAt.chunksTotal -
        sharingAt.chunksDone +
        allocateAt.chunksTotal +
        allocateAt.chunksTotal -
        allocateAt.chunksDone,
    );
    const report = await expectLedgerConsistent(h.service.db, published);
    console.info(
      `[reliability] FLUSHALL at ${atFirst.chunksDone}/${atFirst.chunksTotal} sharing chunks, again at ` +
        `${allocateAt.chunksDone}/${allocateAt.chunksTotal} allocation chunks: ${reenqueued} chunks enqueued again ` +
        `from Postgres, both completed; ledger ${JSON.stringify(report)}`,
    );
  }, 600_000);
});

/** Runs test/support/publish-and-hang.ts until it says it hangs, then kills it with SIGKILL. */
async function publisherKilledAt(hangAt: 'enqueue' | 'stream', payload: Record<string, unknown>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'benefits-publisher-'));
  const file = join(dir, 'payload.json');
  await writeFile(file, JSON.stringify(payload));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/support/publish-and-hang.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_URL: h.config.databaseUrl,
      REDIS_URL: redis.url,
      QUEUE_PREFIX: h.config.queuePrefix,
      HANG_AT: hangAt,
      PAYLOAD_FILE: file,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await pollUntil(
      `the publisher to hang at ${hangAt}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`the publisher exited:\n${output}`);
        return output.includes('hanging') ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 20 },
    );
  } finally {
    child.kill('SIGKILL');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}

const itemRows = async (operationId: string) =>
  Number(
    (
      await sql<{ n: string }>`SELECT count(*) AS n FROM operation_items WHERE operation_id = ${operationId}`.execute(
        h.service.db,
      )
    ).rows[0]!.n,
  );

describe('a publisher killed mid-publish', () => {
  it('after recording and before enqueueing: the operation completes', async () => {
    const payload = {
      operationId: 'lost-killed',
      kind: 'sharing.set',
      enterpriseId: 'E-lost',
      enabled: false,
      memberIds: members.slice(20_000, 40_000),
    };
    await publisherKilledAt('enqueue', payload);
    published.push({ operationId: payload.operationId, payload });
    // Recorded with its items, and not one job enqueued.
    expect(await progressOf(h.service.db, payload.operationId)).toMatchObject({ status: 'queued', chunksDone: 0 });
    expect(await itemRows(payload.operationId)).toBeGreaterThan(0);
    await waitForFinal(h.service.db, [payload.operationId], 120_000);
    await expectLedgerConsistent(h.service.db, published);
  }, 240_000);

  it('while storing a streamed batch: nothing is recorded, and publishing it again completes it', async () => {
    const payload = {
      operationId: 'lost-streamed',
      kind: 'sharing.set',
      enterpriseId: 'E-lost',
      enabled: true,
      memberIds: members.slice(40_000, 60_000),
    };
    await publisherKilledAt('stream', payload);
    expect(await progressOf(h.service.db, payload.operationId)).toBeUndefined();
    expect(await itemRows(payload.operationId)).toBe(0);
    await publish(payload);
    await waitForFinal(h.service.db, [payload.operationId], 120_000);
    await expectLedgerConsistent(h.service.db, published);
  }, 240_000);
});

describe('retry', () => {
  it('a failed operation whose chunk jobs were removed is rebuilt from Postgres and completes', async () => {
    const ids = members.slice(60_000, 63_000);
    await sql`
      CREATE FUNCTION poison_lost() RETURNS trigger AS $$
      BEGIN RAISE EXCEPTION 'poisoned member %', NEW.member_id; END $$ LANGUAGE plpgsql`.execute(h.service.db);
    await sql`
      CREATE TRIGGER poison_lost BEFORE INSERT ON sharing_history FOR EACH ROW
      WHEN (NEW.member_id IN (${sql.lit(ids[150]!)}, ${sql.lit(ids[2_950]!)})) EXECUTE FUNCTION poison_lost()`.execute(
      h.service.db,
    );
    const operationId = await publish({ kind: 'sharing.set', enterpriseId: 'E-lost', enabled: false, memberIds: ids });
    expect(await h.waitForOperation(operationId, 120_000)).toMatchObject({
      status: 'failed',
      progress: { chunksDone: 30, chunksTotal: 30, itemsDone: 2_800 },
    });
    await sql`DROP TRIGGER poison_lost ON sharing_history`.execute(h.service.db);
    // What 7 days do to failed jobs, or an operator cleaning the queue: the items stay in Postgres only.
    const queue = h.service.queues.chunks;
    await queue.clean(0, 10_000, 'failed');
    expect(await queue.getJobCountByTypes('failed')).toBe(0);

    const retry = await h.request('POST', `/v1/operations/${operationId}/retry`);
    expect(retry).toMatchObject({ status: 202, body: { retriedChunks: [1, 29] } });
    expect(await h.waitForOperation(operationId, 120_000)).toMatchObject({
      status: 'completed',
      progress: { chunksDone: 30, itemsDone: 3_000 },
    });
    await expectLedgerConsistent(h.service.db, published);
  }, 240_000);
});
