import type pg from 'pg';
import {
  inTransaction,
  memberId,
  type ReferenceRun,
  type Round,
  type ServiceRun,
  slices,
  vacuum,
  waitForOperations,
} from './common.js';
import {
  ENTERPRISE,
  expectEqual,
  inTurn,
  measureHandWritten,
  measureService,
  phase,
  type ScenarioContext,
} from './scenario.js';

// Each round publishes an operation of its own: the same id again would be an idempotent no-op.
const serviceOperation = (round: number) => `bench-sharing-${round}`;
const referenceOperation = (round: number) => `bench-sharing-reference-${round}`;
const leanOperation = (round: number) => `bench-sharing-lean-${round}`;

/**
 * Setup, not measured: N members associated with the bench enterprise, sharing off, every row
 * updated a few times. A freshly loaded table has full pages: the first update of each row moves
 * it to another page (and adds index entries), the next ones find room where it is. Updating the
 * table all over cost about 2.3, 1.8, then a steady 1.4 s here: unsettled, the first phases
 * measured (always the same side's) paid for the layout, not for their work.
 */
export async function seedMembers(pool: pg.Pool, count: number): Promise<void> {
  await pool.query(`INSERT INTO enterprises (enterprise_id) VALUES ($1)`, [ENTERPRISE]);
  await pool.query(
    `INSERT INTO members (member_id, enterprise_id, sharing_enabled, associated_at, last_seq)
     SELECT 'bm-' || lpad(i::text, 7, '0'), $1, false, now(), 0 FROM generate_series(0, $2::int - 1) AS i`,
    [ENTERPRISE, count],
  );
  await vacuum(pool, ['members']);
  for (let pass = 0; pass < 3; pass += 1) await resetSharing(pool);
}

async function checkSharing(pool: pg.Pool, operationId: string, count: number): Promise<void> {
  const { rows } = await pool.query<{ history: number; enabled: number }>(
    `SELECT (SELECT count(*) FROM sharing_history WHERE operation_id = $1 AND outcome = 'applied' AND sharing_after) AS history,
            (SELECT count(*) FROM members WHERE sharing_enabled) AS enabled`,
    [operationId],
  );
  expectEqual(`${operationId}: applied history rows`, rows[0]!.history, count);
  expectEqual(`${operationId}: members with sharing on`, rows[0]!.enabled, count);
}

/** Back to "sharing off, nothing applied yet", so the next run changes every row again. */
async function resetSharing(pool: pg.Pool): Promise<void> {
  await pool.query(`UPDATE members SET sharing_enabled = false, last_seq = 0`);
  await pool.query(`TRUNCATE sharing_history`);
  // Not sharing_history: see resetCoupons in coupons.bench.ts.
  await vacuum(pool, ['members']);
}

export async function runSharingService(ctx: ScenarioContext, round: number): Promise<ServiceRun> {
  const operationId = serviceOperation(round);
  const memberIds = Array.from({ length: ctx.members }, (_, i) => memberId(i));
  const run = await measureService(ctx, ctx.members, async (published) => {
    await ctx.producer.publish({
      operationId,
      kind: 'sharing.set',
      enterpriseId: ENTERPRISE,
      enabled: true,
      memberIds,
    });
    published();
    const final = await waitForOperations(ctx.env.pool, [operationId], {
      timeoutMs: ctx.timeoutMs,
      label: 'sharing.set service',
      check: () => ctx.workers.assertAlive(),
      finished: ctx.finished,
    });
    const op = final.get(operationId)!;
    expectEqual('sharing.set status', op.status, 'completed');
    expectEqual('sharing.set applied', op.applied, ctx.members);
  });
  await checkSharing(ctx.env.pool, operationId, ctx.members);
  return run;
}

/** The sequence a hand-written run applies under, as the next operation published would get it. */
async function nextSeq(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ seq: number }>(`SELECT coalesce(max(seq), 0) + 1 AS seq FROM operations`);
  return rows[0]!.seq;
}

const memberChunks = (members: number) => slices(Array.from({ length: members }, (_, i) => memberId(i)));

/**
 * The same state changes and history rows by hand: per chunk of 100, one transaction that locks
 * and reads the members, updates them, and writes one history row each.
 */
export async function runSharingReference(ctx: ScenarioContext, round: number): Promise<ReferenceRun> {
  const operationId = referenceOperation(round);
  const seq = await nextSeq(ctx.env.pool);
  const chunks = memberChunks(ctx.members);
  const run = await measureHandWritten(ctx, chunks.length, async (client, task) => {
    const ids = chunks[task]!;
    await inTransaction(client, async () => {
      const locked = await client.query<{
        member_id: string;
        enterprise_id: string | null;
        sharing_enabled: boolean;
        last_seq: number;
      }>(
        `SELECT member_id, enterprise_id, sharing_enabled, last_seq FROM members
         WHERE member_id = ANY($1::text[]) ORDER BY member_id FOR UPDATE`,
        [ids],
      );
      const changed = locked.rows.filter((m) => m.enterprise_id === ENTERPRISE && m.last_seq <= seq);
      const changedIds = changed.map((m) => m.member_id);
      await client.query(
        `UPDATE members SET sharing_enabled = true, last_seq = $2, updated_at = now() WHERE member_id = ANY($1::text[])`,
        [changedIds, seq],
      );
      await client.query(
        `INSERT INTO sharing_history (operation_month, operation_id, operation_seq, enterprise_id, member_id, action, sharing_before, sharing_after, outcome)
         SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date, $1, $2, $3, h.member_id, 'enable', h.before, true, CASE WHEN h.before THEN 'unchanged' ELSE 'applied' END
         FROM unnest($4::text[], $5::bool[]) AS h(member_id, before)`,
        [operationId, seq, ENTERPRISE, changedIds, changed.map((m) => m.sharing_enabled)],
      );
    });
  });
  await checkSharing(ctx.env.pool, operationId, ctx.members);
  return run;
}

/**
 * The reference's rows in one statement per chunk, committed on its own (one round trip instead of
 * five). No SELECT ... FOR UPDATE: the UPDATE locks the rows it changes, and its sequence guard is on
 * the updated row, so a writer it waited for is seen. What that gives up: `before` comes from the
 * statement's snapshot, stale if another operation changed the member meanwhile; the bench's chunks
 * never share a member. Named, as the service's statements are, so it is parsed once per connection.
 */
const leanSharingChunk = (ids: string[], seq: number, operationId: string) => ({
  name: 'bench-lean-sharing-chunk',
  text: `WITH before AS (
           SELECT member_id, sharing_enabled FROM members WHERE member_id = ANY($1::text[]) AND enterprise_id = $2
         ), changed AS (
           UPDATE members m SET sharing_enabled = true, last_seq = $3::int8, updated_at = now()
           FROM before b WHERE m.member_id = b.member_id AND m.last_seq <= $3::int8
           RETURNING m.member_id, b.sharing_enabled AS before
         )
         INSERT INTO sharing_history (operation_month, operation_id, operation_seq, enterprise_id, member_id, action, sharing_before, sharing_after, outcome)
         SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date, $4, $3::int8, $2, c.member_id, 'enable', c.before, true, CASE WHEN c.before THEN 'unchanged' ELSE 'applied' END
         FROM changed c`,
  values: [ids, ENTERPRISE, seq, operationId],
});

/** The reference's work the leanest way: one statement per chunk of 100 (`leanSharingChunk`). */
export async function runSharingLean(ctx: ScenarioContext, round: number): Promise<ReferenceRun> {
  const operationId = leanOperation(round);
  const seq = await nextSeq(ctx.env.pool);
  const chunks = memberChunks(ctx.members);
  const run = await measureHandWritten(ctx, chunks.length, async (client, task) => {
    await client.query(leanSharingChunk(chunks[task]!, seq, operationId));
  });
  await checkSharing(ctx.env.pool, operationId, ctx.members);
  return run;
}

/** One round: the service and both references (`inTurn`), each from "sharing off, nothing applied yet". */
export async function benchSharing(ctx: ScenarioContext, round: number): Promise<Round> {
  await vacuum(ctx.env.pool, ['members']);
  const reset = () => resetSharing(ctx.env.pool);
  return inTurn<Round>(round, {
    service: () =>
      phase(
        `sharing.set round ${round}: service, ${ctx.members} members`,
        'members',
        () => runSharingService(ctx, round),
        reset,
      ),
    reference: () =>
      phase(
        `sharing.set round ${round}: hand-written reference, ${ctx.connections} connections`,
        'members',
        () => runSharingReference(ctx, round),
        reset,
      ),
    lean: () =>
      phase(
        `sharing.set round ${round}: lean reference (one statement per chunk), ${ctx.connections} connections`,
        'members',
        () => runSharingLean(ctx, round),
        reset,
      ),
  });
}
