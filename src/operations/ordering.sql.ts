import { type Kysely, type Selectable, sql } from 'kysely';
import type { Claim, ClaimProbe, HeldClaim } from '../domain/ordering/claims.js';
import { isFinal } from '../domain/operation-status.js';
import type { PlannedChunk } from '../domain/chunk-plan.js';
import { recordsTable } from '../db/records.js';
import { itemRows } from './operation-items.sql.js';
import type { Database, NewOperation, OperationsTable } from '../db/schema.js';
import { namedStatement, type NamedQuery } from '../db/statements.js';

/** Advisory lock namespace of the recorders: one lock per connection slot, held while recording. */
const RECORDING_LOCK = 72_410_018;
const RECORDING_SLOTS = 64;

/**
 * Records an operation with its claims and, if given, the items of its chunk jobs, in one
 * statement: either all are visible or none. Nothing when the id is taken (the row returned is
 * then undefined; the items stored with it stay as they were). The statement holds its
 * connection's recording lock from before its sequence number is drawn until it commits, so that
 * `awaitEarlierRecordings` can wait out every operation with a smaller number.
 */
export async function insertOperationWithClaims(
  db: Kysely<Database>,
  operation: NewOperation,
  claims: readonly Claim[],
  items: readonly PlannedChunk<unknown>[] = [],
): Promise<Selectable<OperationsTable> | undefined> {
  const { rows } = await sql<Selectable<OperationsTable>>`
    WITH recorder AS MATERIALIZED (
      SELECT pg_advisory_xact_lock(${sql.lit(RECORDING_LOCK)}, pg_backend_pid() % ${sql.lit(RECORDING_SLOTS)})
    ),
    op AS (
      INSERT INTO operations (operation_id, kind, enterprise_id, payload_hash, params, source, status, items_total,
                              chunks_total, error, finished_at)
      SELECT ${operation.operation_id}, ${operation.kind}, ${operation.enterprise_id ?? null}, ${operation.payload_hash},
             ${operation.params}::jsonb, ${operation.source}, ${operation.status}, ${operation.items_total},
             ${operation.chunks_total ?? null}, ${operation.error ?? null}::jsonb,
             CASE WHEN ${isFinal(operation.status)} THEN now() END
      FROM recorder
      ON CONFLICT (operation_id) DO NOTHING
      RETURNING *
    ),
    claims AS (
      INSERT INTO operation_claims (seq, path, write)
      SELECT op.seq, c.path, c.write
      FROM op CROSS JOIN ${recordsTable(claims, { path: 'text', write: 'bool' }, 'c')}
    )
    ${
      items.length > 0
        ? sql`, items AS (
      INSERT INTO operation_items (operation_id, chunk_index, chunk_count, item_offset, item_count, items, repeats)
      SELECT op.operation_id, i.* FROM op CROSS JOIN ${itemRows(items)})`
        : sql``
    }
    SELECT * FROM op`.execute(db);
  return rows[0];
}

/**
 * Waits until every operation that drew a smaller sequence number than one recorded earlier is
 * committed (or rolled back): a recorder holds its slot's lock until then. Each slot's shared lock
 * is granted once its recorder (if any) has committed, and let go at once: a session lock, since a
 * transaction's would hold every recorder off until it ends. Sent once per operation and worker
 * process, before its first search for the operations in its way (a statement of its own: in READ
 * COMMITTED the next statement then sees what they committed).
 */
export const awaitEarlierRecordings = namedStatement(
  'await_earlier_recordings',
  () => sql<never>`
    SELECT count(pg_advisory_unlock_shared(${sql.lit(RECORDING_LOCK)}, l.slot))
    FROM (SELECT slot, pg_advisory_lock_shared(${sql.lit(RECORDING_LOCK)}, slot)
          FROM generate_series(0, ${sql.lit(RECORDING_SLOTS - 1)}) AS slot) l`,
);

/** How many claims of earlier operations a worker keeps in memory for one operation, at most. */
export const EARLIER_CLAIMS_KEPT = 2_000;

/**
 * The claims of the unfinished operations published before the one numbered `seq`, up to one more
 * than EARLIER_CLAIMS_KEPT: none can be added since it was recorded, so a worker checks its chunks
 * against them in memory, and asks Postgres again only about those they seem to conflict with.
 */
export const earlierClaims = namedStatement(
  'earlier_claims',
  (seq: number) => sql<HeldClaim>`
    SELECT seq, path, write FROM operation_claims WHERE seq < ${seq}::int8 ORDER BY seq
    LIMIT ${sql.lit(EARLIER_CLAIMS_KEPT + 1)}`,
);

export interface BlockersRow {
  /** Whether any operation published before this one is unfinished (claims anything at all). */
  earlier: boolean;
  /** Unfinished operations published before this one whose claims conflict with the chunk's. */
  blockers: string[];
  /** For a chunk that must follow the one before it: whether that chunk is recorded. */
  previous_recorded: boolean;
}

const NO_PROBE: ClaimProbe = { exact: { paths: [], writes: [] }, below: { from: [], to: [], writes: [] } };

/**
 * What a chunk of the operation numbered `seq` must wait for: earlier unfinished operations
 * holding a claim that conflicts with the chunk's (`probeFor` of its claims), and whether the chunk
 * before it in its own operation is recorded (for one that must follow it). Each probe is a
 * LATERAL subquery that cannot be pulled up (LIMIT): one index range per path on (path, seq),
 * whatever the planner guesses about a table it has no statistics for (as a join it read every
 * claim below `seq` and hashed them). One blocker per path is enough to wait on; without the
 * LIMIT, the estimate of a few hundred rows a path priced a chunk's probe past `jit_above_cost`,
 * and compiling it took 200-300 ms.
 */
export const findBlockers = namedStatement(
  'find_blockers',
  (
    seq: number,
    probe: ClaimProbe | null,
    previousChunk: { operationId: string; chunkIndex: number } | null,
  ): ReturnType<typeof blockers> => blockers(seq, probe ?? NO_PROBE, previousChunk),
);

const blockers = (
  seq: number,
  { exact, below }: ClaimProbe,
  previous: { operationId: string; chunkIndex: number } | null,
) => sql<BlockersRow>`
  SELECT
    EXISTS (SELECT FROM (SELECT seq FROM operation_claims WHERE seq < ${seq}::int8 ORDER BY seq LIMIT 1) first) AS earlier,
    ARRAY(
      SELECT o.operation_id FROM operations o
      WHERE o.status IN ('queued', 'running') AND o.seq = ANY(ARRAY(
        SELECT c.seq FROM unnest(${exact.paths}::text[], ${exact.writes}::bool[]) AS p(path, write)
        CROSS JOIN LATERAL (
          SELECT seq FROM operation_claims
          WHERE path = p.path COLLATE "C" AND seq < ${seq}::int8 AND (write OR p.write) LIMIT 1) c
        UNION
        SELECT c.seq FROM unnest(${below.from}::text[], ${below.to}::text[], ${below.writes}::bool[]) AS r(lo, hi, write)
        CROSS JOIN LATERAL (
          SELECT seq FROM operation_claims
          WHERE path >= r.lo COLLATE "C" AND path < r.hi COLLATE "C" AND seq < ${seq}::int8 AND (write OR r.write)
          LIMIT 1) c))
      ORDER BY o.seq
    ) AS blockers,
    ${previous === null}::bool OR EXISTS (
      SELECT FROM operation_chunks
      WHERE operation_id = ${previous?.operationId ?? ''}::text AND chunk_index = ${previous?.chunkIndex ?? -1}::int4
    ) AS previous_recorded`;

export type FindBlockers = NamedQuery<BlockersRow>;

/** Shows the publisher what the operation is waiting for (read back only while those are unfinished). */
export async function recordWaitingFor(
  db: Kysely<Database>,
  operationId: string,
  blockers: readonly string[],
): Promise<void> {
  await db
    .updateTable('operations')
    .set({ waiting_for: sql<string[]>`${[...blockers]}::text[]` })
    .where('operation_id', '=', operationId)
    .execute();
}
