import { type Kysely, type Selectable, sql } from 'kysely';
import { definePrepared, type StatementCall } from './prepared-statements.js';
import type { Claim, ClaimProbe, HeldClaim } from '../domain/ordering/claims.js';
import { isFinal } from '../domain/operations/operation-status.js';
import type { Database, NewOperation, OperationsTable } from './schema.js';

type Db = Kysely<Database>;

/** Advisory lock namespace of the recorders: one lock per connection slot, held while recording. */
const RECORDING_LOCK = 72_410_018;
const RECORDING_SLOTS = 64;

/**
 * Records an operation with its claims, in one statement: either both are visible or neither.
 * Nothing when the id is taken (the row returned is then undefined). The statement holds its
 * connection's recording lock from before its sequence number is drawn until it commits, so that
 * `awaitEarlierRecordings` can wait out every operation with a smaller number.
 */
export async function insertOperationWithClaims(
  db: Db,
  operation: NewOperation,
  claims: readonly Claim[],
): Promise<Selectable<OperationsTable> | undefined> {
  const { rows } = await sql<Selectable<OperationsTable>>`
    WITH recorder AS MATERIALIZED (
      SELECT pg_advisory_xact_lock(${RECORDING_LOCK}, pg_backend_pid() % ${RECORDING_SLOTS})
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
      FROM op CROSS JOIN unnest(${claims.map((c) => c.path)}::text[], ${claims.map((c) => c.write)}::bool[]) AS c(path, write)
    )
    SELECT * FROM op`.execute(db);
  return rows[0];
}

const awaitEarlierRecordingsStatement = definePrepared<never>(
  'await_earlier_recordings',
  [],
  // Each slot's shared lock is granted once its recorder (if any) has committed, and let go at
  // once: a session lock, since a transaction's would hold every recorder off until it ends.
  `SELECT count(pg_advisory_unlock_shared(${RECORDING_LOCK}, l.slot))
   FROM (SELECT slot, pg_advisory_lock_shared(${RECORDING_LOCK}, slot)
         FROM generate_series(0, ${RECORDING_SLOTS - 1}) AS slot) l`,
);

/**
 * Waits until every operation that drew a smaller sequence number than one recorded earlier is
 * committed (or rolled back): a recorder holds its slot's lock until then. Sent once per
 * operation and worker process, before its first search for the operations in its way (a
 * statement of its own: in READ COMMITTED the next statement then sees what they committed).
 */
export function awaitEarlierRecordings(): StatementCall<never> {
  return awaitEarlierRecordingsStatement.call();
}

export interface BlockersRow {
  /** Whether any operation published before this one is unfinished (claims anything at all). */
  earlier: boolean;
  /** Unfinished operations published before this one whose claims conflict with the chunk's. */
  blockers: string[];
  /** For a chunk that must follow the one before it: whether that chunk is recorded. */
  previous_recorded: boolean;
}

/**
 * What a chunk of the operation numbered $1 must wait for: earlier unfinished operations holding a
 * claim that conflicts with the chunk's (`probeFor`: paths $2 with writes $3, ranges $4-$5 with
 * writes $6), and whether chunk $8 of its own operation $7 is recorded (-1: none to follow).
 * Each probe is a LATERAL subquery that cannot be pulled up (LIMIT): one index range per path on
 * (path, seq), whatever the planner guesses about a table it has no statistics for (as a join it
 * read every claim below $1 and hashed them). One blocker per path is enough to wait on.
 */
const findBlockersStatement = definePrepared<BlockersRow>(
  'find_blockers',
  ['int8', 'text[]', 'bool[]', 'text[]', 'text[]', 'bool[]', 'text', 'int4'],
  `SELECT
     EXISTS (SELECT FROM (SELECT seq FROM operation_claims WHERE seq < $1 ORDER BY seq LIMIT 1) first) AS earlier,
     ARRAY(
       SELECT o.operation_id FROM operations o
       WHERE o.status IN ('queued', 'running') AND o.seq = ANY(ARRAY(
         SELECT c.seq FROM unnest($2, $3) AS p(path, write)
         CROSS JOIN LATERAL (
           SELECT seq FROM operation_claims
           WHERE path = p.path COLLATE "C" AND seq < $1 AND (write OR p.write) LIMIT 1) c
         UNION
         SELECT c.seq FROM unnest($4, $5, $6) AS r(lo, hi, write)
         CROSS JOIN LATERAL (
           SELECT seq FROM operation_claims
           WHERE path >= r.lo COLLATE "C" AND path < r.hi COLLATE "C" AND seq < $1 AND (write OR r.write)
           LIMIT 1) c))
       ORDER BY o.seq
     ) AS blockers,
     $8 < 0 OR EXISTS (SELECT FROM operation_chunks WHERE operation_id = $7 AND chunk_index = $8) AS previous_recorded`,
);

/** How many claims of earlier operations a worker keeps in memory for one operation, at most. */
export const EARLIER_CLAIMS_KEPT = 2_000;

const earlierClaimsStatement = definePrepared<HeldClaim>(
  'earlier_claims',
  ['int8', 'int4'],
  `SELECT seq, path, write FROM operation_claims WHERE seq < $1 ORDER BY seq LIMIT $2`,
);

/**
 * The claims of the unfinished operations published before the one numbered `seq`, up to one more
 * than EARLIER_CLAIMS_KEPT: none can be added since it was recorded, so a worker checks its chunks
 * against them in memory, and asks Postgres again only about those they seem to conflict with.
 */
export function earlierClaims(seq: number): StatementCall<HeldClaim> {
  return earlierClaimsStatement.call(seq, EARLIER_CLAIMS_KEPT + 1);
}

/** The probe for a chunk; without `probe`, only whether anything earlier is unfinished and the chunk before. */
export function findBlockers(
  seq: number,
  probe: ClaimProbe | null,
  previousChunk: { operationId: string; chunkIndex: number } | null,
): StatementCall<BlockersRow> {
  const { exact, below } = probe ?? { exact: { paths: [], writes: [] }, below: { from: [], to: [], writes: [] } };
  return findBlockersStatement.call(
    seq,
    exact.paths,
    exact.writes,
    below.from,
    below.to,
    below.writes,
    previousChunk?.operationId ?? '',
    previousChunk?.chunkIndex ?? -1,
  );
}

/** Shows the publisher what the operation is waiting for (read back only while those are unfinished). */
export async function recordWaitingFor(db: Db, operationId: string, blockers: readonly string[]): Promise<void> {
  await db
    .updateTable('operations')
    .set({ waiting_for: sql<string[]>`${[...blockers]}::text[]` })
    .where('operation_id', '=', operationId)
    .execute();
}
