import type pg from 'pg';
import {
  inTransaction,
  memberId,
  type ReferenceRun,
  runLanes,
  type ServiceRun,
  slices,
  vacuum,
  waitForOperations,
} from './common.js';
import {
  bothSides,
  ENTERPRISE,
  expectEqual,
  measureService,
  phase,
  type ScenarioContext,
  startPhase,
} from './scenario.js';

// Each round publishes an operation of its own: the same id again would be an idempotent no-op.
const serviceOperation = (round: number) => `bench-sharing-${round}`;
const referenceOperation = (round: number) => `bench-sharing-reference-${round}`;

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

/**
 * The same state changes and history rows by hand: per chunk of 100, one transaction that locks
 * and reads the members, updates them, and writes one history row each.
 */
export async function runSharingReference(ctx: ScenarioContext, round: number): Promise<ReferenceRun> {
  const operationId = referenceOperation(round);
  const { rows } = await ctx.env.pool.query<{ seq: number }>(`SELECT coalesce(max(seq), 0) + 1 AS seq FROM operations`);
  const seq = rows[0]!.seq;
  const chunks = slices(Array.from({ length: ctx.members }, (_, i) => memberId(i)));
  await startPhase(ctx);
  const seconds = await runLanes(ctx.env.pool, ctx.connections, chunks.length, async (client, task) => {
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
        `INSERT INTO sharing_history (operation_id, operation_seq, enterprise_id, member_id, action, sharing_before, sharing_after, outcome)
         SELECT $1, $2, $3, h.member_id, 'enable', h.before, true, CASE WHEN h.before THEN 'unchanged' ELSE 'applied' END
         FROM unnest($4::text[], $5::bool[]) AS h(member_id, before)`,
        [operationId, seq, ENTERPRISE, changedIds, changed.map((m) => m.sharing_enabled)],
      );
    });
  });
  const cpu = await ctx.cpu.stop();
  await checkSharing(ctx.env.pool, operationId, ctx.members);
  return { items: ctx.members, seconds, rate: ctx.members / seconds, connections: ctx.connections, cpu };
}

/** One round: the service and the reference (`bothSides`), each from "sharing off, nothing applied yet". */
export async function benchSharing(
  ctx: ScenarioContext,
  round: number,
): Promise<{ service: ServiceRun; reference: ReferenceRun }> {
  await vacuum(ctx.env.pool, ['members']);
  const reset = () => resetSharing(ctx.env.pool);
  return bothSides(
    round,
    () =>
      phase(
        `sharing.set round ${round}: service, ${ctx.members} members`,
        'members',
        () => runSharingService(ctx, round),
        reset,
      ),
    () =>
      phase(
        `sharing.set round ${round}: hand-written reference, ${ctx.connections} connections`,
        'members',
        () => runSharingReference(ctx, round),
        reset,
      ),
  );
}
