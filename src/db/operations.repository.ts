import { type Kysely, sql } from 'kysely';
import type { Rejection, OutcomeCounts } from '../domain/operations/item-outcome.js';
import { isFinal, statusAfterChunk } from '../domain/operations/operation-status.js';
import type { OperationStatus } from '../producers/contract.js';
import { definePrepared, type StatementCall } from './prepared-statements.js';
import type { Database, NewOperation, OperationRow } from './schema.js';

type Db = Kysely<Database>;

export type RecordResult = { created: boolean; operation: OperationRow };

/** Inserts the operation unless its id is taken; either way returns the row that holds the id. */
export async function insertOperation(db: Db, operation: NewOperation): Promise<RecordResult> {
  const inserted = await db
    .insertInto('operations')
    .values(operation)
    .onConflict((oc) => oc.column('operation_id').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { created: true, operation: inserted };
  const existing = await findOperation(db, operation.operation_id);
  if (!existing) throw new Error(`operation ${operation.operation_id} conflicted on insert but cannot be read`);
  return { created: false, operation: existing };
}

export async function findOperation(db: Db, operationId: string): Promise<OperationRow | undefined> {
  return db.selectFrom('operations').selectAll().where('operation_id', '=', operationId).executeTakeFirst();
}

export type ChunkClaim = { claimed: true } | { claimed: false; operationStatus: string | null };
export type ClaimRow = { status: string; claimed: boolean };

/**
 * Claims a chunk for the transaction it runs in. A second delivery of the same chunk blocks here
 * until the first commits (then finds it claimed) or rolls back (then claims it itself): at most
 * one applies. A chunk of a cancelled operation is not claimed: it is dropped.
 */
export const claimChunk = definePrepared<ClaimRow>(
  'claim_chunk',
  ['text', 'int4'],
  `WITH op AS (SELECT status FROM operations WHERE operation_id = $1),
   claim AS (
     INSERT INTO operation_chunks (operation_id, chunk_index, status)
     SELECT $1, $2, 'applied' FROM op WHERE op.status <> 'cancelled'
     ON CONFLICT (operation_id, chunk_index) DO NOTHING
     RETURNING chunk_index)
   SELECT op.status, EXISTS (SELECT 1 FROM claim) AS claimed FROM op`,
);

export function toChunkClaim(rows: readonly ClaimRow[]): ChunkClaim {
  const row = rows[0];
  return row?.claimed ? { claimed: true } : { claimed: false, operationStatus: row?.status ?? null };
}

export type OperationProgressRow = {
  chunks_total: number | null;
  chunks_done: number;
  chunks_failed: number;
  rejected: number;
  status: string;
};

const PROGRESS_COLUMNS = ['chunks_total', 'chunks_done', 'chunks_failed', 'rejected', 'status'] as const;

/** A chunk moves a queued operation to running; any other status (cancelled among them) stays. */
const STARTED_STATUS_SQL = `CASE WHEN status = 'queued' THEN 'running' ELSE status END`;
const STARTED_STATUS = sql.raw<string>(STARTED_STATUS_SQL);

const chunkAppliedStatement = definePrepared<OperationProgressRow>(
  'chunk_applied',
  ['text', 'int4', 'int4', 'int4', 'int4', 'int4', 'int4'],
  `WITH chunk AS (
     UPDATE operation_chunks SET applied = $4, unchanged = $5, superseded = $6, rejected = $7
     WHERE operation_id = $1 AND chunk_index = $2)
   UPDATE operations SET
     chunks_done = chunks_done + 1,
     items_done = items_done + $3,
     applied = applied + $4, unchanged = unchanged + $5, superseded = superseded + $6, rejected = rejected + $7,
     -- A chunk that committed just after a cancel stays recorded; the status stays cancelled.
     status = ${STARTED_STATUS_SQL},
     started_at = coalesce(started_at, now()),
     updated_at = now()
   WHERE operation_id = $1
   RETURNING ${PROGRESS_COLUMNS.join(', ')}`,
);

/**
 * Adds a claimed chunk's counts to its row and to its operation's counters. The last statement of
 * the chunk's transaction: every chunk of a batch updates the operation's row, and holds its lock
 * until COMMIT, so the chunk path sends it together with the COMMIT, and the lock is held no
 * longer than the commit itself takes.
 */
export function chunkApplied(
  operationId: string,
  chunkIndex: number,
  outcome: { itemCount: number; counts: OutcomeCounts },
): StatementCall<OperationProgressRow> {
  const { applied, unchanged, superseded, rejected } = outcome.counts;
  return chunkAppliedStatement.call(
    operationId,
    chunkIndex,
    outcome.itemCount,
    applied,
    unchanged,
    superseded,
    rejected,
  );
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
  const progress = await db.transaction().execute(async (tx) => {
    const inserted = await tx
      .insertInto('operation_chunks')
      .values({ operation_id: operationId, chunk_index: chunkIndex, status: 'failed', error })
      .onConflict((oc) => oc.columns(['operation_id', 'chunk_index']).doNothing())
      .returning('chunk_index')
      .executeTakeFirst();
    if (!inserted) return null;
    return tx
      .updateTable('operations')
      .set((eb) => ({
        chunks_failed: eb('chunks_failed', '+', 1),
        status: STARTED_STATUS,
        updated_at: sql`now()`,
      }))
      .where('operation_id', '=', operationId)
      .returning(PROGRESS_COLUMNS)
      .executeTakeFirstOrThrow();
  });
  return progress && settleStatus(db, operationId, progress);
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
  await db
    .updateTable('operations')
    .set({ status, finished_at: sql`now()`, updated_at: sql`now()` })
    .where('operation_id', '=', operationId)
    .where('status', 'in', ['queued', 'running'])
    .execute();
  return status;
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
    finished_at: sql`now()` as never,
  });
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
  await db
    .updateTable('operations')
    .set({ status: 'cancelled', finished_at: sql`now()`, updated_at: sql`now()` })
    .where('operation_id', '=', operationId)
    .where('status', 'in', ['queued', 'running'])
    .execute();
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
      .set((eb) => ({
        status: 'running',
        finished_at: null,
        chunks_failed: eb('chunks_failed', '-', chunkIndexes.length),
        updated_at: sql`now()`,
      }))
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
    return true;
  });
}
