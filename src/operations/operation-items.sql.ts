import { type Kysely, sql } from 'kysely';
import type { PlannedChunk } from '../domain/chunk-plan.js';
import type { Database } from '../db/schema.js';
import { CHUNK_SIZE } from '../contract/index.js';

type Db = Kysely<Database>;

/**
 * Chunk jobs as the rows `i(chunk_index, chunk_count, item_offset, item_count, items, repeats)`:
 * VALUES with a parameter per field, not `recordsTable`'s arrays — Postgres parses a text array of
 * megabytes of JSON (quotes escaped) several times slower than as many text parameters.
 */
export function itemRows(jobs: readonly PlannedChunk<unknown>[]) {
  const rows = jobs.map(
    (job) =>
      // An operation without items is still one chunk.
      sql`(${job.chunkIndex}::int4, ${Math.max(1, Math.ceil(job.items.length / CHUNK_SIZE))}::int4,
           ${job.offset}::int4, ${job.items.length}::int4, ${JSON.stringify(job.items)}::text,
           ${job.repeats && job.repeats.length > 0 ? job.repeats : null}::int4[])`,
  );
  return sql`(VALUES ${sql.join(rows)}) AS i(chunk_index, chunk_count, item_offset, item_count, items, repeats)`;
}

/** Stores chunk jobs' items; a job stored before (the same operation published again) is kept. */
export async function insertItemRows(db: Db, operationId: string, jobs: readonly PlannedChunk<unknown>[]) {
  if (jobs.length === 0) return;
  await sql`
    INSERT INTO operation_items (operation_id, chunk_index, chunk_count, item_offset, item_count, items, repeats)
    SELECT ${operationId}, i.* FROM ${itemRows(jobs)}
    ON CONFLICT (operation_id, chunk_index) DO NOTHING`.execute(db);
}

/** The items of the chunk job that starts at `chunkIndex`, as they were published; undefined when not stored. */
export async function loadItemRow(
  db: Db,
  operationId: string,
  chunkIndex: number,
): Promise<PlannedChunk<unknown> | undefined> {
  const row = await db
    .selectFrom('operation_items')
    .select(['item_offset', 'items', 'repeats'])
    .where('operation_id', '=', operationId)
    .where('chunk_index', '=', chunkIndex)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    chunkIndex,
    offset: row.item_offset,
    items: JSON.parse(row.items) as unknown[],
    ...(row.repeats && { repeats: row.repeats }),
  };
}

/** A stored chunk job of an operation, and how many of its chunks are recorded (applied or given up). */
export interface StoredJob {
  chunkIndex: number;
  chunkCount: number;
  itemCount: number;
  recorded: number;
}

/** The operation's stored chunk jobs in chunk order, each with how far it got. */
export async function storedJobs(db: Db, operationId: string): Promise<StoredJob[]> {
  const { rows } = await sql<StoredJob>`
    SELECT i.chunk_index AS "chunkIndex", i.chunk_count AS "chunkCount", i.item_count AS "itemCount",
           (SELECT count(*) FROM operation_chunks c
            WHERE c.operation_id = i.operation_id
              AND c.chunk_index >= i.chunk_index AND c.chunk_index < i.chunk_index + i.chunk_count)::int AS recorded
    FROM operation_items i WHERE i.operation_id = ${operationId}
    ORDER BY i.chunk_index`.execute(db);
  return rows;
}

/** Operations not final, recorded before `olderThanMs` ago, oldest first. */
export async function unfinishedOperations(
  db: Db,
  olderThanMs: number,
): Promise<{ operationId: string; kind: string; chunksTotal: number; itemsTotal: number }[]> {
  const { rows } = await sql<{ operationId: string; kind: string; chunksTotal: number; itemsTotal: number }>`
    SELECT operation_id AS "operationId", kind, chunks_total AS "chunksTotal", items_total AS "itemsTotal"
    FROM operations
    WHERE status IN ('queued', 'running') AND chunks_total IS NOT NULL
      AND created_at < now() - make_interval(secs => ${olderThanMs / 1_000})
    ORDER BY seq`.execute(db);
  return rows;
}

/**
 * Deletes up to `limit` stored chunk jobs of operations that reached a final status more than
 * `days` ago; the operation, its counts, rejections and history stay. A job holding a chunk that
 * gave up stays too: a failed operation can be retried whenever its owner gets to it.
 */
export async function deleteExpiredItems(db: Db, days: number, limit: number): Promise<number> {
  const result = await sql`
    DELETE FROM operation_items d
    USING (
      SELECT i.operation_id, i.chunk_index
      FROM operations o JOIN operation_items i ON i.operation_id = o.operation_id
      WHERE o.finished_at < now() - make_interval(days => ${days})
        AND o.status NOT IN ('queued', 'running')
        AND NOT EXISTS (
          SELECT 1 FROM operation_chunks c
          WHERE c.operation_id = i.operation_id AND c.status = 'failed'
            AND c.chunk_index >= i.chunk_index AND c.chunk_index < i.chunk_index + i.chunk_count)
      LIMIT ${limit}
    ) e
    WHERE d.operation_id = e.operation_id AND d.chunk_index = e.chunk_index`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
