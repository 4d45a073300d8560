import { type Kysely, sql } from 'kysely';
import type { PlannedChunk } from '../domain/chunk-plan.js';
import type { Claim } from '../domain/ordering/claims.js';
import { isFinal, type OperationStatus, statusAfterChunk } from '../domain/operation-status.js';
import type { Database, NewOperation, OperationRow, ProgressCounters } from '../db/schema.js';
import { type OperationProgressRow, shardOf } from './chunk.sql.js';
import { insertOperationWithClaims } from './ordering.sql.js';

type Db = Kysely<Database>;

export type RecordResult = { created: boolean; operation: OperationRow };

/**
 * Inserts the operation, with its claims and the items of its chunk jobs, unless its id is taken;
 * either way returns the row that holds the id. A final status (a rejected payload) is recorded as
 * finished now.
 */
export async function insertOperation(
  db: Db,
  operation: NewOperation,
  claims: readonly Claim[] = [],
  items: readonly PlannedChunk<unknown>[] = [],
): Promise<RecordResult> {
  const inserted = await insertOperationWithClaims(db, operation, claims, items);
  if (inserted) return { created: true, operation: { ...inserted, ...ZERO_PROGRESS } };
  const existing = await findOperation(db, operation.operation_id);
  if (!existing) throw new Error(`operation ${operation.operation_id} conflicted on insert but cannot be read`);
  return { created: false, operation: existing };
}

export async function findOperation(db: Db, operationId: string): Promise<OperationRow | undefined> {
  return db.selectFrom('operation_summaries').selectAll().where('operation_id', '=', operationId).executeTakeFirst();
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

const ZERO_PROGRESS: ProgressCounters = {
  chunks_done: 0,
  chunks_failed: 0,
  items_done: 0,
  applied: 0,
  unchanged: 0,
  superseded: 0,
  rejected: 0,
};

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
    await tx
      .updateTable('operations')
      .set({ status: 'running', started_at: sql`coalesce(started_at, now())`, updated_at: sql`now()` })
      .where('operation_id', '=', operationId)
      .where('status', '=', 'queued')
      .execute();
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
