import { type Kysely, sql, type Transaction } from 'kysely';
import type { Rejection, OutcomeCounts } from '../domain/operations/item-outcome.js';
import { statusAfterChunk } from '../domain/operations/operation-status.js';
import type { OperationStatus } from '../producers/contract.js';
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

/**
 * Claims a chunk for this transaction. A second delivery of the same chunk blocks here until the
 * first commits (then finds it claimed) or rolls back (then claims it itself): at most one applies.
 */
export async function claimChunk(tx: Transaction<Database>, operationId: string, chunkIndex: number): Promise<boolean> {
  const claimed = await tx
    .insertInto('operation_chunks')
    .values({ operation_id: operationId, chunk_index: chunkIndex, status: 'applied' })
    .onConflict((oc) => oc.columns(['operation_id', 'chunk_index']).doNothing())
    .returning('chunk_index')
    .executeTakeFirst();
  return claimed !== undefined;
}

export async function insertRejections(
  tx: Transaction<Database>,
  operationId: string,
  rejections: readonly Rejection[],
): Promise<void> {
  if (rejections.length === 0) return;
  await sql`
    INSERT INTO operation_rejections (operation_id, position, member_id, coupon_id, reason)
    SELECT ${operationId}, r.position, r.member_id, r.coupon_id, r.reason
    FROM unnest(${rejections.map((r) => r.position)}::int[], ${rejections.map((r) => r.memberId)}::text[],
                ${rejections.map((r) => r.couponId ?? null)}::text[], ${rejections.map((r) => r.reason)}::text[])
         AS r(position, member_id, coupon_id, reason)
    ON CONFLICT DO NOTHING`.execute(tx);
}

/** One chunk's rejections by reason: the rows at positions [offset, offset + itemCount). */
export async function countChunkRejections(
  tx: Transaction<Database>,
  operationId: string,
  offset: number,
  itemCount: number,
): Promise<Record<string, number>> {
  const rows = await tx
    .selectFrom('operation_rejections')
    .select((eb) => ['reason', eb.fn.countAll<number>().as('n')])
    .where('operation_id', '=', operationId)
    .where('position', '>=', offset)
    .where('position', '<', offset + itemCount)
    .groupBy('reason')
    .execute();
  return Object.fromEntries(rows.map((row) => [row.reason, Number(row.n)]));
}

/** Adds a chunk's counts to its operation and settles the operation's status when it was the last. */
export async function recordChunkApplied(
  tx: Transaction<Database>,
  operationId: string,
  chunkIndex: number,
  itemCount: number,
  counts: OutcomeCounts,
): Promise<OperationStatus> {
  // One statement for both rows: every chunk of an operation updates the operation's row, and
  // holds its lock until commit, so that row should be the last thing a chunk waits for.
  const row = await tx
    .with('chunk', (db) =>
      db
        .updateTable('operation_chunks')
        .set(counts)
        .where('operation_id', '=', operationId)
        .where('chunk_index', '=', chunkIndex)
        .returning('chunk_index'),
    )
    .updateTable('operations')
    .set((eb) => ({
      chunks_done: eb('chunks_done', '+', 1),
      items_done: eb('items_done', '+', itemCount),
      applied: eb('applied', '+', counts.applied),
      unchanged: eb('unchanged', '+', counts.unchanged),
      superseded: eb('superseded', '+', counts.superseded),
      rejected: eb('rejected', '+', counts.rejected),
      // A chunk that committed just after a cancel stays recorded; the status stays cancelled.
      status: sql`CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE 'running' END`,
      started_at: sql`coalesce(started_at, now())`,
      updated_at: sql`now()`,
    }))
    .where('operation_id', '=', operationId)
    .returning(['chunks_total', 'chunks_done', 'chunks_failed', 'rejected', 'status'])
    .executeTakeFirstOrThrow();
  return settleStatus(tx, operationId, row);
}

/** A chunk that gave up after its last attempt; recorded once, outside the failed transaction. */
export async function recordChunkFailed(
  db: Db,
  operationId: string,
  chunkIndex: number,
  error: string,
): Promise<OperationStatus | null> {
  return db.transaction().execute(async (tx) => {
    const inserted = await tx
      .insertInto('operation_chunks')
      .values({ operation_id: operationId, chunk_index: chunkIndex, status: 'failed', error })
      .onConflict((oc) => oc.columns(['operation_id', 'chunk_index']).doNothing())
      .returning('chunk_index')
      .executeTakeFirst();
    if (!inserted) return null;
    const row = await tx
      .updateTable('operations')
      .set((eb) => ({
        chunks_failed: eb('chunks_failed', '+', 1),
        status: sql`CASE WHEN status = 'cancelled' THEN 'cancelled' ELSE 'running' END`,
        updated_at: sql`now()`,
      }))
      .where('operation_id', '=', operationId)
      .returning(['chunks_total', 'chunks_done', 'chunks_failed', 'rejected', 'status'])
      .executeTakeFirstOrThrow();
    return settleStatus(tx, operationId, row);
  });
}

async function settleStatus(
  tx: Transaction<Database>,
  operationId: string,
  row: { chunks_total: number | null; chunks_done: number; chunks_failed: number; rejected: number; status: string },
): Promise<OperationStatus> {
  if (row.status === 'cancelled') return 'cancelled';
  const status = statusAfterChunk({
    chunksTotal: row.chunks_total,
    chunksDone: row.chunks_done,
    chunksFailed: row.chunks_failed,
    rejected: row.rejected,
  });
  if (status !== 'running') {
    await tx
      .updateTable('operations')
      .set({ status, finished_at: sql`now()`, updated_at: sql`now()` })
      .where('operation_id', '=', operationId)
      .execute();
  }
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
export async function reopenFailedChunks(db: Db, operationId: string, chunkIndexes: readonly number[]): Promise<boolean> {
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
