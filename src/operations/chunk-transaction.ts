import type { Kysely } from 'kysely';
import type pg from 'pg';
import { poolOf } from '../db/database.js';
import { pipelined } from '../db/pipeline.js';
import type { Database } from '../db/schema.js';
import { BEGIN, COMMIT, plain, ROLLBACK } from '../db/statements.js';
import type { ChunkOutcome } from '../domain/outcomes.js';
import {
  type ChunkClaim,
  chunkApplied,
  checkChunkUnapplied,
  insertRejections,
  markStarted,
  operationProgress,
  type OperationProgressRow,
  toChunkClaim,
} from './chunk.sql.js';
import type { ChunkGate, ChunkWork } from './chunk-work.js';
import { isChunkRecorded } from './operation-records.js';

export interface ChunkRef {
  operationId: string;
  chunkIndex: number;
}

/**
 * A chunk touches at most a hundred rows of each table, each by its key: a plan that reads a whole
 * table is never right for it. Postgres chooses one anyway when it plans a statement while a table
 * is still small, and keeps it: a named statement's generic plan is made at its sixth execution,
 * and a `members` table filled from empty by small associations then met a 200,000-member
 * `sharing.set` with sequential scans. With sequential scans off in the chunk's transaction, no
 * plan of its statements, generic or not, prefers one where an index serves.
 */
const KEYED_READS_ONLY = plain('SET LOCAL enable_seqscan = off');

/** SQLSTATE of `chunk_guard` (migration 0005). */
const GUARD_FAILED = 'BM001';
const UNIQUE_VIOLATION = '23505';
const DEADLOCK = '40P01';

function stateMoved(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === GUARD_FAILED || code === UNIQUE_VIOLATION || code === DEADLOCK;
}

export type ChunkTransactionResult =
  | {
      claimed: true;
      applied: ChunkOutcome;
      /** The operation's totals after this chunk's commit; null when this chunk cannot have finished it. */
      progress: OperationProgressRow | null;
    }
  | { claimed: false; claim: Extract<ChunkClaim, { claimed: false }> }
  /** The gate did not let the chunk through: rolled back untouched, to be applied later. */
  | { claimed: false; held: true };

type Attempt = ChunkTransactionResult | { fallback: () => ChunkWork };

/**
 * Runs one chunk as one Postgres transaction in two round trips (each one is a socket write and a
 * wake-up on both sides, which is most of what a chunk costs), sent in pg's pipeline mode: BEGIN,
 * the chunk's check, its gate and its reads in one; the writes, the rejections, the chunk's counts,
 * COMMIT and, after it, the read of the operation's totals in the other. Every statement is named,
 * so each connection parses it once. No chunk but the first few writes the operation's row: the
 * counts go to progress shards, so the chunks in flight commit side by side. In READ COMMITTED each
 * statement reads what was committed when it started, so a read that follows a lock in the same
 * round trip sees the state the lock protects, and the totals read after the last chunk's COMMIT
 * include every chunk.
 *
 * A chunk recorded before (a redelivery), or whose operation was cancelled, is rolled back
 * untouched: its reads ran for nothing, which only a redelivery pays. A delivery that raced
 * another of the same chunk fails on the chunk's record as it closes, and is rolled back too.
 * Work that falls back is rolled back and run again as its fallback, on a connection taken afresh
 * (holding one while waiting for another could starve the pool).
 */
export async function runChunkTransaction(
  db: Kysely<Database>,
  ref: ChunkRef,
  work: ChunkWork,
  gate?: ChunkGate,
): Promise<ChunkTransactionResult> {
  const attempt = await attemptChunkTransaction(db, ref, work, gate);
  // A fallback follows an attempt the gate let through: nothing earlier can be in its way since.
  return 'fallback' in attempt ? runChunkTransaction(db, ref, attempt.fallback()) : attempt;
}

function fallbackOf(work: ChunkWork): () => ChunkWork {
  if (!work.fallback) throw new Error('a chunk decision declined, and its work has no fallback');
  return work.fallback;
}

async function attemptChunkTransaction(
  db: Kysely<Database>,
  ref: ChunkRef,
  work: ChunkWork,
  gate: ChunkGate | undefined,
): Promise<Attempt> {
  const client = await poolOf(db).connect();
  let broken: Error | undefined;
  const rollBack = async () => {
    // A ROLLBACK that fails means the connection is gone: the pool must drop it.
    await pipelined(client, [ROLLBACK]).catch((error: Error) => (broken = error));
  };
  let claimStatus: string | null = null;
  try {
    const gateStatements = gate?.statements ?? [];
    const [, , claimRows, ...rest] = await pipelined(client, [
      BEGIN,
      KEYED_READS_ONLY,
      checkChunkUnapplied(ref.operationId, ref.chunkIndex),
      ...gateStatements,
      ...work.reads,
    ]);
    const claim = toChunkClaim(claimRows);
    claimStatus = claim.operationStatus;
    if (!claim.claimed) {
      await rollBack();
      return { claimed: false, claim };
    }
    if (gate && !gate.passes(rest.slice(0, gateStatements.length))) {
      await rollBack();
      return { claimed: false, held: true };
    }
    const decision = work.decide(rest.slice(gateStatements.length) as never);
    if (decision === null) {
      await rollBack();
      return { fallback: fallbackOf(work) };
    }
    const { writes, outcome } = decision;
    const closing = await pipelined(client, [
      ...writes,
      ...(outcome.rejections.length > 0 ? [insertRejections(ref.operationId, outcome.rejections)] : []),
      ...(claim.operationStatus === 'queued' ? [markStarted(ref.operationId)] : []),
      chunkApplied(ref.operationId, ref.chunkIndex, outcome),
      COMMIT,
      operationProgress(ref.operationId, ref.chunkIndex),
    ]);
    return { claimed: true, applied: outcome, progress: (closing.at(-1)?.[0] as OperationProgressRow) ?? null };
  } catch (error) {
    // The transaction is open (a statement failed) or ended (COMMIT or the read after it failed:
    // ROLLBACK then only warns; a redelivery of the chunk settles the operation).
    await rollBack();
    if (claimStatus !== null && stateMoved(error)) {
      // Another delivery of this chunk committed while this one ran: it is applied, once.
      if (await isChunkRecorded(db, ref.operationId, ref.chunkIndex))
        return { claimed: false, claim: { claimed: false, operationStatus: claimStatus } };
      if (work.fallback) return { fallback: work.fallback };
    }
    throw error;
  } finally {
    release(client, broken);
  }
}

function release(client: pg.PoolClient, broken: Error | undefined): void {
  client.release(broken);
}
