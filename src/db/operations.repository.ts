import { CompiledQuery, type Kysely, sql } from 'kysely';
import type { Rejection, OutcomeCounts } from '../domain/operations/item-outcome.js';
import { isFinal, statusAfterChunk } from '../domain/operations/operation-status.js';
import type { OperationStatus } from '../producers/contract.js';
import type { Claim } from '../domain/ordering/claims.js';
import { insertOperationWithClaims } from './ordering.repository.js';
import { definePrepared, type StatementCall } from './prepared-statements.js';
import type { Database, NewOperation, OperationRow, ProgressCounters } from './schema.js';

type Db = Kysely<Database>;

export type RecordResult = { created: boolean; operation: OperationRow };

/**
 * Inserts the operation, with its claims, unless its id is taken; either way returns the row that
 * holds the id. A final status (a rejected payload) is recorded as finished now.
 */
export async function insertOperation(
  db: Db,
  operation: NewOperation,
  claims: readonly Claim[] = [],
): Promise<RecordResult> {
  const inserted = await insertOperationWithClaims(db, operation, claims);
  if (inserted) return { created: true, operation: { ...inserted, ...ZERO_PROGRESS } };
  const existing = await findOperation(db, operation.operation_id);
  if (!existing) throw new Error(`operation ${operation.operation_id} conflicted on insert but cannot be read`);
  return { created: false, operation: existing };
}

export async function findOperation(db: Db, operationId: string): Promise<OperationRow | undefined> {
  return db.selectFrom('operation_summaries').selectAll().where('operation_id', '=', operationId).executeTakeFirst();
}

export type ChunkClaim =
  { claimed: true; operationStatus: string } | { claimed: false; operationStatus: string | null };
export type ClaimRow = { status: string; claimed: boolean };

/**
 * Whether the chunk is still to be applied: no record of it yet, and its operation not
 * cancelled. Only a read: the record is inserted with the chunk's counts, just before its COMMIT
 * (`chunkApplied`), so the chunk row is written once. A second delivery of the same chunk running
 * at the same time passes this check too, then waits on rows or keys the first one wrote and,
 * once the first commits, fails (a guard, a taken key) and finds the record: at most one applies.
 */
export const claimChunk = definePrepared<ClaimRow>(
  'claim_chunk',
  ['text', 'int4'],
  `SELECT o.status,
          o.status <> 'cancelled' AND NOT EXISTS (
            SELECT 1 FROM operation_chunks c WHERE c.operation_id = $1 AND c.chunk_index = $2) AS claimed
   FROM operations o WHERE o.operation_id = $1`,
);

export function toChunkClaim(rows: readonly ClaimRow[]): ChunkClaim {
  const row = rows[0];
  return row?.claimed
    ? { claimed: true, operationStatus: row.status }
    : { claimed: false, operationStatus: row?.status ?? null };
}

/** Whether the chunk has its record: another delivery of it applied it (or gave it up). */
export async function isChunkRecorded(db: Db, operationId: string, chunkIndex: number): Promise<boolean> {
  const row = await db
    .selectFrom('operation_chunks')
    .select('chunk_index')
    .where('operation_id', '=', operationId)
    .where('chunk_index', '=', chunkIndex)
    .executeTakeFirst();
  return row !== undefined;
}

export type OperationProgressRow = {
  chunks_total: number | null;
  chunks_done: number;
  chunks_failed: number;
  rejected: number;
  status: string;
};

/**
 * How many rows an operation's counters are spread over. Jobs are taken from the queue in index
 * order and a job's chunks run one after another, so the chunks in flight at once (one per job,
 * concurrency × processes, well under this) seldom share a shard: a bench run of `sharing.set`
 * sampled none waiting on another's row lock.
 */
const PROGRESS_SHARDS = 64;

const shardOf = (chunkIndex: number) => chunkIndex % PROGRESS_SHARDS;

const ZERO_PROGRESS: ProgressCounters = {
  chunks_done: 0,
  chunks_failed: 0,
  items_done: 0,
  applied: 0,
  unchanged: 0,
  superseded: 0,
  rejected: 0,
};

/** A chunk moves a queued operation to running; any other status (cancelled among them) stays. */
const MARK_STARTED_SQL = `UPDATE operations SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now()
   WHERE operation_id = $1 AND status = 'queued'`;
const markStartedStatement = definePrepared<never>('mark_started', ['text'], MARK_STARTED_SQL);

/** Sent by the chunk whose claim found its operation queued: in the first wave of a batch, every chunk. */
export function markStarted(operationId: string): StatementCall<never> {
  return markStartedStatement.call(operationId);
}

const chunkAppliedStatement = definePrepared<never>(
  'chunk_applied',
  ['text', 'int4', 'int4', 'int4', 'int4', 'int4', 'int4', 'int4'],
  `WITH chunk AS (
     INSERT INTO operation_chunks (operation_id, chunk_index, status, applied, unchanged, superseded, rejected)
     VALUES ($1, $2, 'applied', $5, $6, $7, $8))
   INSERT INTO operation_progress AS p
     (operation_id, shard, chunks_done, items_done, applied, unchanged, superseded, rejected)
   VALUES ($1, $3, 1, $4, $5, $6, $7, $8)
   ON CONFLICT (operation_id, shard) DO UPDATE SET
     chunks_done = p.chunks_done + 1,
     items_done = p.items_done + EXCLUDED.items_done,
     applied = p.applied + EXCLUDED.applied, unchanged = p.unchanged + EXCLUDED.unchanged,
     superseded = p.superseded + EXCLUDED.superseded, rejected = p.rejected + EXCLUDED.rejected,
     updated_at = now()`,
);

/** Records a claimed chunk with its counts, and adds them to its operation's progress shard. */
export function chunkApplied(
  operationId: string,
  chunkIndex: number,
  outcome: { itemCount: number; counts: OutcomeCounts },
): StatementCall<never> {
  const { applied, unchanged, superseded, rejected } = outcome.counts;
  return chunkAppliedStatement.call(
    operationId,
    chunkIndex,
    shardOf(chunkIndex),
    outcome.itemCount,
    applied,
    unchanged,
    superseded,
    rejected,
  );
}

const operationProgressStatement = definePrepared<OperationProgressRow>(
  'operation_progress',
  ['text', 'int4'],
  `SELECT s.chunks_total, s.chunks_done, s.chunks_failed, s.rejected, s.status
   FROM operation_summaries s
   WHERE s.operation_id = $1
     -- Evaluated once, before the sum: whether the chunk's shard holds every chunk it will hold.
     AND (SELECT o.chunks_total IS NULL OR p.chunks_done + p.chunks_failed >= (o.chunks_total - $2 + ${PROGRESS_SHARDS - 1}) / ${PROGRESS_SHARDS}
          FROM operations o JOIN operation_progress p ON p.operation_id = o.operation_id AND p.shard = $2
          WHERE o.operation_id = $1)`,
);

/**
 * The operation's totals, read by a chunk after its COMMIT (in the same query): every statement
 * sees what was committed before it started, so the last chunk of a batch to commit reads every
 * chunk's counts, and settles the operation. Only a chunk whose shard is then complete reads them
 * (no row otherwise): the last chunk's shard always is, and most chunks are spared summing the
 * shards of an operation that cannot be finished yet.
 */
export function operationProgress(operationId: string, chunkIndex: number): StatementCall<OperationProgressRow> {
  return operationProgressStatement.call(operationId, shardOf(chunkIndex));
}

/** Counts chunks that gave up (or, negative, that were reopened) in one of the operation's shards. */
async function addFailedChunks(db: Db, operationId: string, shard: number, count: number) {
  await db
    .insertInto('operation_progress')
    .values({ operation_id: operationId, shard, chunks_failed: count })
    .onConflict((oc) =>
      oc.columns(['operation_id', 'shard']).doUpdateSet((eb) => ({
        chunks_failed: eb('operation_progress.chunks_failed', '+', eb.ref('excluded.chunks_failed')),
        updated_at: sql<Date>`now()`,
      })),
    )
    .execute();
}

const insertRejectionsStatement = definePrepared<never>(
  'insert_rejections',
  ['text', 'int4[]', 'text[]', 'text[]', 'text[]'],
  `INSERT INTO operation_rejections (operation_id, position, member_id, coupon_id, reason)
   SELECT $1, r.position, r.member_id, r.coupon_id, r.reason
   FROM unnest($2, $3, $4, $5) AS r(position, member_id, coupon_id, reason)
   ON CONFLICT DO NOTHING`,
);

export function insertRejections(operationId: string, rejections: readonly Rejection[]): StatementCall<never> {
  return insertRejectionsStatement.call(
    operationId,
    rejections.map((r) => r.position),
    rejections.map((r) => r.memberId),
    rejections.map((r) => r.couponId ?? null),
    rejections.map((r) => r.reason),
  );
}

/**
 * A chunk that gave up after its last attempt; recorded once, outside the failed transaction.
 * Null when the chunk had been recorded before (applied, or failed by an earlier delivery).
 */
export async function recordChunkFailed(
  db: Db,
  operationId: string,
  chunkIndex: number,
  error: string,
): Promise<OperationStatus | null> {
  const recorded = await db.transaction().execute(async (tx) => {
    const inserted = await tx
      .insertInto('operation_chunks')
      .values({ operation_id: operationId, chunk_index: chunkIndex, status: 'failed', error })
      .onConflict((oc) => oc.columns(['operation_id', 'chunk_index']).doNothing())
      .returning('chunk_index')
      .executeTakeFirst();
    if (!inserted) return false;
    await addFailedChunks(tx, operationId, shardOf(chunkIndex), 1);
    await tx.executeQuery(CompiledQuery.raw(MARK_STARTED_SQL, [operationId]));
    return true;
  });
  return recorded ? settleStatus(db, operationId) : null;
}

/**
 * Writes an operation's final status once every chunk is in, after the last chunk's commit (the
 * update moves only an unfinished operation, so two chunks settling at once write it once).
 * Without `progress` the operation is read back: a redelivered chunk settles the operation whose
 * last chunk committed but died before settling it.
 */
export async function settleStatus(
  db: Db,
  operationId: string,
  progress?: OperationProgressRow,
): Promise<OperationStatus | null> {
  const row = progress ?? (await findOperation(db, operationId));
  if (!row) return null;
  if (isFinal(row.status)) return row.status as OperationStatus;
  const status = statusAfterChunk({
    chunksTotal: row.chunks_total,
    chunksDone: row.chunks_done,
    chunksFailed: row.chunks_failed,
    rejected: row.rejected,
  });
  if (status === 'running') return 'running';
  await finishOperation(db, operationId, status);
  return status;
}

/** The channel an operation's id is sent on when it reaches a final status. */
export const OPERATION_FINISHED_CHANNEL = 'benefits_operation_finished';

/**
 * Moves an unfinished operation to a final status, releases its claims and says so on
 * OPERATION_FINISHED_CHANNEL, in one statement: chunks of later operations waiting on it
 * (`src/workers/ordering-gate.ts`) may go on once it commits, and those waiting in place hear it.
 */
async function finishOperation(db: Db, operationId: string, status: OperationStatus): Promise<void> {
  await sql`
    WITH finished AS (
      UPDATE operations SET status = ${status}, finished_at = now(), updated_at = now()
      WHERE operation_id = ${operationId} AND status IN ('queued', 'running')
      RETURNING seq, operation_id
    ),
    released AS (DELETE FROM operation_claims WHERE seq IN (SELECT seq FROM finished))
    SELECT pg_notify(${OPERATION_FINISHED_CHANNEL}, operation_id) FROM finished`.execute(db);
}

/** An operation whose payload failed validation: recorded so its status can be read, never applied. */
export async function recordRejectedOperation(
  db: Db,
  operation: { operationId: string; kind: string; enterpriseId: string | null; payloadHash: string; source: string },
  issues: unknown,
): Promise<RecordResult> {
  return insertOperation(db, {
    operation_id: operation.operationId,
    kind: operation.kind,
    enterprise_id: operation.enterpriseId,
    payload_hash: operation.payloadHash,
    params: '{}',
    source: operation.source,
    status: 'rejected',
    items_total: 0,
    chunks_total: 0,
    error: JSON.stringify({ code: 'invalid_payload', issues }),
  });
}

/** Those of the operations that have not reached a final status, in publication order. */
export async function unfinished(db: Db, operationIds: readonly string[]): Promise<string[]> {
  const rows = await db
    .selectFrom('operations')
    .select('operation_id')
    .where('operation_id', 'in', [...operationIds])
    .where('status', 'in', ['queued', 'running'])
    .orderBy('seq')
    .execute();
  return rows.map((r) => r.operation_id);
}

export async function rejectionsByReason(db: Db, operationId: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('operation_rejections')
    .select(['reason', (eb) => eb.fn.countAll<number>().as('n')])
    .where('operation_id', '=', operationId)
    .groupBy('reason')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.reason, Number(r.n)]));
}

export async function listRejections(db: Db, operationId: string, afterPosition: number, limit: number) {
  return db
    .selectFrom('operation_rejections')
    .select(['position', 'member_id', 'coupon_id', 'reason'])
    .where('operation_id', '=', operationId)
    .where('position', '>', afterPosition)
    .orderBy('position')
    .limit(limit)
    .execute();
}

/** Cancels an operation that has not finished; returns the row as it now stands, cancelled or not. */
export async function cancelOperation(db: Db, operationId: string): Promise<OperationRow | undefined> {
  await finishOperation(db, operationId, 'cancelled');
  return findOperation(db, operationId);
}

/** Chunks of an operation that gave up after their last attempt. */
export async function failedChunkIndexes(db: Db, operationId: string): Promise<number[]> {
  const rows = await db
    .selectFrom('operation_chunks')
    .select('chunk_index')
    .where('operation_id', '=', operationId)
    .where('status', '=', 'failed')
    .orderBy('chunk_index')
    .execute();
  return rows.map((r) => r.chunk_index);
}

/**
 * Forgets the failure of the given chunks so they can be claimed again, and puts the operation
 * back to running. Only an operation that ended `failed` can be reopened.
 */
export async function reopenFailedChunks(
  db: Db,
  operationId: string,
  chunkIndexes: readonly number[],
): Promise<boolean> {
  if (chunkIndexes.length === 0) return false;
  return db.transaction().execute(async (tx) => {
    const reopened = await tx
      .updateTable('operations')
      .set({ status: 'running', finished_at: null, updated_at: sql`now()` })
      .where('operation_id', '=', operationId)
      .where('status', '=', 'failed')
      .returning('operation_id')
      .executeTakeFirst();
    if (!reopened) return false;
    const removed = await tx
      .deleteFrom('operation_chunks')
      .where('operation_id', '=', operationId)
      .where('status', '=', 'failed')
      .where('chunk_index', 'in', [...chunkIndexes])
      .executeTakeFirst();
    if (Number(removed.numDeletedRows) !== chunkIndexes.length) {
      throw new Error(`operation ${operationId}: failed chunks changed while reopening them`);
    }
    const reopenedPerShard = new Map<number, number>();
    for (const index of chunkIndexes)
      reopenedPerShard.set(shardOf(index), (reopenedPerShard.get(shardOf(index)) ?? 0) + 1);
    for (const [shard, count] of reopenedPerShard) await addFailedChunks(tx, operationId, shard, -count);
    return true;
  });
}
