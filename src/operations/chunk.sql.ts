import { sql } from 'kysely';
import type { OutcomeCounts, Rejection } from '../domain/outcomes.js';
import { recordsTable } from '../db/records.js';
import type { OperationsTable, ProgressCounters } from '../db/schema.js';
import { namedStatement } from '../db/statements.js';

/**
 * How many rows an operation's counters are spread over. Jobs are taken from the queue in index
 * order and a job's chunks run one after another, so the chunks in flight at once (one per job,
 * concurrency × processes, well under this) seldom share a shard: a bench run of `sharing.set`
 * sampled none waiting on another's row lock.
 */
export const PROGRESS_SHARDS = 64;

export const shardOf = (chunkIndex: number) => chunkIndex % PROGRESS_SHARDS;

export type ClaimRow = Pick<OperationsTable, 'status'> & { claimed: boolean };

/**
 * Whether the chunk is still to be applied: no record of it yet, and its operation not
 * cancelled. Only a read: the record is inserted with the chunk's counts, just before its COMMIT
 * (`chunkApplied`), so the chunk row is written once. A second delivery of the same chunk running
 * at the same time passes this check too, then waits on rows or keys the first one wrote and,
 * once the first commits, fails (a guard, a taken key) and finds the record: at most one applies.
 */
export const checkChunkUnapplied = namedStatement(
  'check_chunk_unapplied',
  (operationId: string, chunkIndex: number) => sql<ClaimRow>`
    SELECT o.status,
           o.status <> 'cancelled' AND NOT EXISTS (
             SELECT 1 FROM operation_chunks c WHERE c.operation_id = ${operationId}::text AND c.chunk_index = ${chunkIndex}::int4
           ) AS claimed
    FROM operations o WHERE o.operation_id = ${operationId}::text`,
);

export type ChunkClaim =
  { claimed: true; operationStatus: string } | { claimed: false; operationStatus: string | null };

export function toChunkClaim(rows: readonly ClaimRow[]): ChunkClaim {
  const row = rows[0];
  return row?.claimed
    ? { claimed: true, operationStatus: row.status }
    : { claimed: false, operationStatus: row?.status ?? null };
}

/** A chunk moves a queued operation to running; any other status (cancelled among them) stays. */
export const markStarted = namedStatement(
  'mark_started',
  (operationId: string) => sql<never>`
    UPDATE operations SET status = 'running', started_at = coalesce(started_at, now()), updated_at = now()
    WHERE operation_id = ${operationId}::text AND status = 'queued'`,
);

/** Records a claimed chunk with its counts, and adds them to its operation's progress shard. */
export const chunkApplied = namedStatement(
  'chunk_applied',
  (operationId: string, chunkIndex: number, outcome: { itemCount: number; counts: OutcomeCounts }) => {
    const { applied, unchanged, superseded, rejected } = outcome.counts;
    return sql<never>`
      WITH chunk AS (
        INSERT INTO operation_chunks (operation_id, chunk_index, status, applied, unchanged, superseded, rejected)
        VALUES (${operationId}::text, ${chunkIndex}::int4, 'applied', ${applied}::int4, ${unchanged}::int4,
                ${superseded}::int4, ${rejected}::int4))
      INSERT INTO operation_progress AS p
        (operation_id, shard, chunks_done, items_done, applied, unchanged, superseded, rejected)
      VALUES (${operationId}::text, ${shardOf(chunkIndex)}::int4, 1, ${outcome.itemCount}::int4, ${applied}::int4,
              ${unchanged}::int4, ${superseded}::int4, ${rejected}::int4)
      ON CONFLICT (operation_id, shard) DO UPDATE SET
        chunks_done = p.chunks_done + 1,
        items_done = p.items_done + EXCLUDED.items_done,
        applied = p.applied + EXCLUDED.applied, unchanged = p.unchanged + EXCLUDED.unchanged,
        superseded = p.superseded + EXCLUDED.superseded, rejected = p.rejected + EXCLUDED.rejected,
        updated_at = now()`;
  },
);

export const insertRejections = namedStatement(
  'insert_rejections',
  (operationId: string, rejections: readonly Rejection[]) => sql<never>`
    INSERT INTO operation_rejections (operation_id, position, member_id, coupon_id, package_id, record_id, reason)
    SELECT ${operationId}::text, r.position, r.member_id, r.coupon_id, r.package_id, r.record_id, r.reason
    FROM ${recordsTable(
      rejections.map((r) => ({
        position: r.position,
        member_id: r.memberId,
        coupon_id: r.couponId ?? null,
        package_id: r.packageId ?? null,
        record_id: r.recordId ?? null,
        reason: r.reason,
      })),
      { position: 'int4', member_id: 'text', coupon_id: 'text', package_id: 'text', record_id: 'text', reason: 'text' },
      'r',
    )}
    ON CONFLICT DO NOTHING`,
);

export type OperationProgressRow = Pick<OperationsTable, 'chunks_total' | 'status'> &
  Pick<ProgressCounters, 'chunks_done' | 'chunks_failed' | 'rejected'>;

/**
 * The operation's totals, read by a chunk after its COMMIT (in the same round trip): every
 * statement sees what was committed before it started, so the last chunk of a batch to commit
 * reads every chunk's counts, and settles the operation. Only a chunk whose shard is then complete
 * reads them (no row otherwise): the last chunk's shard always is, and most chunks are spared
 * summing the shards of an operation that cannot be finished yet.
 */
export const operationProgress = namedStatement(
  'operation_progress',
  (operationId: string, chunkIndex: number) => sql<OperationProgressRow>`
    SELECT s.chunks_total, s.chunks_done, s.chunks_failed, s.rejected, s.status
    FROM operation_summaries s
    WHERE s.operation_id = ${operationId}::text
      -- Evaluated once, before the sum: whether the chunk's shard holds every chunk it will hold.
      AND (SELECT o.chunks_total IS NULL
                  OR p.chunks_done + p.chunks_failed >= (o.chunks_total - ${shardOf(chunkIndex)}::int4 + ${sql.lit(PROGRESS_SHARDS - 1)}) / ${sql.lit(PROGRESS_SHARDS)}
           FROM operations o JOIN operation_progress p ON p.operation_id = o.operation_id AND p.shard = ${shardOf(chunkIndex)}::int4
           WHERE o.operation_id = ${operationId}::text)`,
);
