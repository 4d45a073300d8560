import { execFile } from 'node:child_process';
import { type Kysely, Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureHistoryPartitions, historyPartitions, pruneHistory } from '../../src/db/history-partitions.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { migrationProvider } from '../../src/db/migrations/index.js';
import { nextMonth, operationMonth, partitionName } from '../../src/domain/history-months.js';
import { chunksByHand } from '../support/chunks-by-hand.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { type Isolated, isolate } from '../support/isolation.js';
import { adminDb } from '../support/servers.js';

// History is partitioned by the month its operation was recorded in: rows of one operation share
// a partition whatever the retries, old months are dropped whole, and reads still probe indexes.
let h: Harness;
const members = memberIds('part', 250);
const thisMonth = operationMonth(new Date());
const lastMonth = (() => {
  const d = new Date();
  return operationMonth(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 15)));
})();

beforeAll(async () => {
  h = await startHarness('partitions', { workers: false });
  const byHand = chunksByHand(h);
  const assoc = await h.publish({
    operationId: 'part-assoc',
    kind: 'members.associate',
    enterpriseId: 'E-part',
    memberIds: members,
  });
  await byHand.runAll(assoc);
});
afterAll(async () => {
  await h?.close();
});

/** Moves an operation into the last instant of the previous month, as if recorded then. */
const recordLastMonth = (operationId: string) =>
  sql`UPDATE operations SET created_at = date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 microsecond'
      WHERE operation_id = ${operationId}`.execute(h.service.db);

const partitionsHolding = async (operationId: string) =>
  (
    await sql<{ partition: string; n: number }>`
      SELECT tableoid::regclass::text AS partition, count(*)::int AS n FROM sharing_history
      WHERE operation_id = ${operationId} GROUP BY 1`.execute(h.service.db)
  ).rows;

describe('history partitioned by operation month', () => {
  it('keeps one row per item when an operation of last month is applied and retried this month', async () => {
    const byHand = chunksByHand(h);
    const op = await h.publish({
      operationId: 'part-enable',
      kind: 'sharing.set',
      enterpriseId: 'E-part',
      enabled: true,
      memberIds: members,
    });
    await recordLastMonth(op);
    // The partition of an unfinished operation's month is made if it is missing.
    const created = await ensureHistoryPartitions(h.service.db);
    expect(created).toContain(partitionName('sharing_history', lastMonth));
    expect(await ensureHistoryPartitions(h.service.db)).toEqual([]);

    // Every chunk delivered twice at once, then all of them again: applied once.
    const first = await byHand.chunkJob(op, 0);
    await Promise.all([byHand.processChunk(first), byHand.processChunk(first)]);
    const view = await byHand.runAll(op);
    await byHand.runAll(op);
    expect(view).toMatchObject({ status: 'completed', counts: { applied: 250 } });
    expect(await partitionsHolding(op)).toEqual([{ partition: partitionName('sharing_history', lastMonth), n: 250 }]);

    // The unique key still refuses a second row for an item, with the month in it.
    await expect(
      sql`INSERT INTO sharing_history (operation_id, operation_month, operation_seq, enterprise_id, member_id, action, outcome)
          SELECT operation_id, operation_month, operation_seq, enterprise_id, member_id, action, outcome
          FROM sharing_history WHERE operation_id = ${op} LIMIT 1`.execute(h.service.db),
    ).rejects.toThrow(/duplicate key value violates unique constraint/);
  });

  it('reads by operation probe one partition and reads by member use each partition’s index', async () => {
    // These tables are small here, where a sequential scan is the right plan: with it off (as the
    // chunk's transactions run), each plan shows the index that serves the read once they are not.
    const plan = async (query: ReturnType<typeof sql>) =>
      h.service.db.transaction().execute(async (tx) => {
        await sql`SET LOCAL enable_seqscan = off`.execute(tx);
        // As a prepared statement runs once its plan is generic: pruning happens at execution.
        await sql`SET LOCAL plan_cache_mode = force_generic_plan`.execute(tx);
        return JSON.stringify((await sql`EXPLAIN (ANALYZE, FORMAT JSON) ${query}`.execute(tx)).rows);
      });
    // The chunk's probe.
    const probe = await plan(
      sql`SELECT m.member_id, s.seen FROM members m
          LEFT JOIN LATERAL (SELECT true AS seen FROM sharing_history h
                             WHERE h.operation_id = ${'part-enable'}::text AND h.member_id = m.member_id
                               AND h.operation_month = ${lastMonth}::date LIMIT 1) s ON true
          WHERE m.member_id = ANY(${members.slice(0, 100)}::text[])`,
    );
    expect(probe).toContain(partitionName('sharing_history', lastMonth));
    expect(probe).not.toContain(partitionName('sharing_history', thisMonth));
    expect(probe).not.toContain('Seq Scan');

    // The API's read by operation: other months are never executed.
    const byOperation = await plan(
      sql`SELECT member_id FROM sharing_history WHERE operation_id = ${'part-enable'}
            AND operation_month = (SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date FROM operations
                                   WHERE operation_id = ${'part-enable'})`,
    );
    const executed = [
      ...byOperation.matchAll(/"Relation Name":"(sharing_history_y\d+m\d+)"[^{}]*?"Actual Loops":(\d+)/g),
    ]
      .filter(([, , loops]) => Number(loops) > 0)
      .map(([, name]) => name);
    expect(executed).toEqual([partitionName('sharing_history', lastMonth)]);

    const byMember = await plan(
      sql`SELECT * FROM sharing_history WHERE member_id = ${members[0]!} AND enterprise_id = 'E-part'
          ORDER BY id DESC LIMIT 50`,
    );
    expect(byMember).not.toContain('Seq Scan');
    const response = await h.request('GET', `/v1/enterprises/E-part/members/${members[0]}/sharing-history`);
    expect(response.status).toBe(200);
  });

  it('prunes whole months, refusing while an older operation is still to apply', async () => {
    const pending = await h.publish({
      operationId: 'part-pending',
      kind: 'sharing.set',
      enterpriseId: 'E-part',
      enabled: false,
      memberIds: members.slice(0, 10),
    });
    await recordLastMonth(pending);
    expect(await pruneHistory(h.service.db, thisMonth)).toEqual({ result: 'unfinished_operations', operations: 1 });
    expect(await partitionsHolding('part-enable')).toHaveLength(1);

    await h.request('POST', `/v1/operations/${pending}/cancel`);
    const cli = await runCli(['history', 'prune', '--before', thisMonth.slice(0, 7), '--json']);
    expect(cli.code).toBe(0);
    const outcome = JSON.parse(cli.stdout);
    expect(outcome.result).toBe('pruned');
    for (const table of ['sharing_history', 'coupon_history', 'package_history', 'usage_history'])
      expect(outcome.dropped).toContain(partitionName(table, lastMonth));

    // The month is gone; the operation, its counts and this month's partitions stay.
    expect(await partitionsHolding('part-enable')).toEqual([]);
    const view = await h.request('GET', '/v1/operations/part-enable');
    expect(view.body).toMatchObject({ status: 'completed', counts: { applied: 250 } });
    const left = (await historyPartitions(h.service.db, 'sharing_history')).map((p) => p.month);
    expect(left[0]).toBe(thisMonth);
    expect(left).toContain(nextMonth(thisMonth));
    // Nothing older than the cutoff is made again.
    expect(await ensureHistoryPartitions(h.service.db)).toEqual([]);

    const bad = await runCli(['history', 'prune', '--before', 'January']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/expected a month/);
  });
});

describe('migration 0010: existing history moves into month partitions', () => {
  let isolated: Isolated;
  let db: Kysely<any>;
  beforeAll(async () => {
    isolated = await isolate('partition_migration');
    db = adminDb(isolated.databaseUrl);
  });
  afterAll(async () => {
    await db?.destroy();
    await isolated?.dispose();
  });

  it('copies every row into its operation’s month, keeping ids, and goes back down', async () => {
    const { error } = await new Migrator({ db, provider: migrationProvider }).migrateTo('0007-packages-and-usage');
    if (error) throw error;
    await db
      .insertInto('operations')
      .values([
        {
          operation_id: 'old-1',
          kind: 'sharing.set',
          enterprise_id: 'E',
          payload_hash: 'x',
          source: 'producer',
          status: 'completed',
          items_total: 2,
          chunks_total: 1,
          created_at: '2025-11-30T23:59:59.999999Z',
        },
        {
          operation_id: 'old-2',
          kind: 'coupons.issue',
          enterprise_id: 'E',
          payload_hash: 'y',
          source: 'producer',
          status: 'completed',
          items_total: 1,
          chunks_total: 1,
          created_at: '2026-02-01T00:00:00Z',
        },
      ]) // prettier-ignore
      .execute();
    await db
      .insertInto('sharing_history')
      .values(
        ['m1', 'm2'].map((m) => ({
          operation_id: 'old-1',
          operation_seq: 1,
          enterprise_id: 'E',
          member_id: m,
          action: 'enable',
          outcome: 'applied',
        })),
      ) // prettier-ignore
      .execute();
    await db
      .insertInto('coupon_history')
      .values({
        operation_id: 'old-2',
        coupon_id: 'C',
        enterprise_id: 'E',
        member_id: null,
        action: 'issue',
        outcome: 'applied',
        amount_cents: 100,
        coupon_balance_after_cents: 100,
      }) // prettier-ignore
      .execute();
    const idsBefore = (await db.selectFrom('sharing_history').select('id').orderBy('id').execute()).map((r) => r.id);

    await migrateToLatest(db);
    const rows = await sql<{ id: string; partition: string }>`
      SELECT id, tableoid::regclass::text AS partition FROM sharing_history ORDER BY id`.execute(db);
    expect(rows.rows.map((r) => Number(r.id))).toEqual(idsBefore.map(Number));
    expect(new Set(rows.rows.map((r) => r.partition))).toEqual(new Set(['sharing_history_y2025m11']));
    const coupon = await sql<{
      partition: string;
    }>`SELECT tableoid::regclass::text AS partition FROM coupon_history`.execute(db);
    expect(coupon.rows).toEqual([{ partition: 'coupon_history_y2026m02' }]);
    // Every month from the oldest row to three ahead exists, for every table.
    expect((await historyPartitions(db, 'usage_history')).map((p) => p.month)).toContain(thisMonth);
    // New rows take ids after the copied ones.
    const [next] = (
      await sql<{
        id: string;
      }>`INSERT INTO sharing_history (operation_id, operation_month, operation_seq, enterprise_id, member_id, action, outcome)
            VALUES ('old-1', '2025-11-01', 1, 'E', 'm3', 'enable', 'applied') RETURNING id`.execute(db)
    ).rows;
    expect(Number(next!.id)).toBeGreaterThan(Math.max(...idsBefore.map(Number)));

    const down = await new Migrator({ db, provider: migrationProvider }).migrateTo('0007-packages-and-usage');
    if (down.error) throw down.error;
    expect(Number((await sql<{ n: string }>`SELECT count(*) AS n FROM sharing_history`.execute(db)).rows[0]!.n)).toBe(
      3,
    );
    await migrateToLatest(db);
  });
});

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = new URL('../../bin/benefits.mjs', import.meta.url).pathname;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, DATABASE_URL: h.config.databaseUrl, REDIS_URL: h.config.redisUrl } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}
