import { type Kysely, sql } from 'kysely';
import type { ChunkOutcome } from '../domain/operations/item-outcome.js';
import { chunkPathQuery } from './database.js';
import {
  chunkApplied,
  type ChunkClaim,
  claimChunk,
  type ClaimRow,
  insertRejections,
  isChunkRecorded,
  markStarted,
  operationProgress,
  type OperationProgressRow,
  toChunkClaim,
} from './operations.repository.js';
import { BEGIN, COMMIT, type StatementCall } from './prepared-statements.js';
import type { Database } from './schema.js';

export interface ChunkRef {
  operationId: string;
  chunkIndex: number;
}

/** The rows one of the chunk's reads answered with. */
export type ReadRows = <Row>(read: StatementCall<Row>) => Row[];

export interface ChunkDecision {
  /** Sent with COMMIT, in this order. */
  writes: readonly StatementCall<unknown>[];
  outcome: ChunkOutcome;
}

/**
 * What applying a chunk takes, in the two steps its transaction has: the reads (row locks
 * included), then, decided from what they found, the writes.
 */
export interface ChunkWork {
  /** Sent with BEGIN and the claim, run in this order. */
  reads: readonly StatementCall<unknown>[];
  /** The writes, or null when these reads cannot settle the chunk: then `fallback` does. */
  decide(rows: ReadRows): ChunkDecision | null;
  /**
   * The same chunk done under locks, for work that reads without them: it runs in a transaction
   * of its own when `decide` declines, or when a write finds the state it was decided on has moved
   * (a `chunk_guard` failure, a unique key another chunk took meanwhile, or a deadlock with a
   * chunk that locks in another order). Built only then: most chunks never need it.
   */
  fallback?: () => ChunkWork;
}

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

/**
 * A read sent with the claim that decides whether the chunk may apply now at all (publication
 * order: `src/workers/chunk-waits.ts`); read before anything is decided or written.
 */
export interface ChunkGate {
  /** Sent in this order after the claim. */
  statements: readonly StatementCall<unknown>[];
  /** Given the rows of each statement, in order: whether the chunk may apply now. */
  passes(rows: unknown[][]): boolean;
}

type Attempt = ChunkTransactionResult | { fallback: () => ChunkWork };

/**
 * Runs one chunk as one Postgres transaction in two round trips (each one is a socket write and a
 * wake-up on both sides, which is most of what a chunk costs): BEGIN, the claim and the reads go
 * as one query; the writes, the rejections, the chunk's counts, COMMIT and, after it, the read of
 * the operation's totals as another. Every statement is prepared once per connection (see
 * `prepared-statements.ts`). No chunk but the first few writes the operation's row: the counts go
 * to progress shards, so the chunks in flight commit side by side. In READ COMMITTED each
 * statement reads what was committed when it started, so a read that follows a lock in the same
 * query sees the state the lock protects, and the totals read after the last chunk's COMMIT
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
  return db.connection().execute(async (conn): Promise<Attempt> => {
    const send = async (statements: readonly StatementCall<unknown>[]) =>
      (await conn.executeQuery(chunkPathQuery(statements))).rows;
    let claimStatus: string | null = null;
    try {
      const [, claimRows, ...rest] = await send([
        BEGIN,
        claimChunk.call(ref.operationId, ref.chunkIndex),
        ...(gate?.statements ?? []),
        ...work.reads,
      ]);
      const claim = toChunkClaim(claimRows as ClaimRow[]);
      const gateStatements = gate?.statements.length ?? 0;
      const readRows = rest.slice(gateStatements);
      claimStatus = claim.operationStatus;
      if (!claim.claimed) {
        await sql`ROLLBACK`.execute(conn);
        return { claimed: false, claim };
      }
      if (gate && !gate.passes(rest.slice(0, gateStatements))) {
        await sql`ROLLBACK`.execute(conn);
        return { claimed: false, held: true };
      }
      const decision = work.decide(<Row>(read: StatementCall<Row>) => {
        const index = work.reads.indexOf(read);
        if (index < 0) throw new Error('a chunk decision asked for the rows of a statement it did not read');
        return readRows[index] as Row[];
      });
      if (decision === null) {
        await sql`ROLLBACK`.execute(conn);
        return { fallback: fallbackOf(work) };
      }
      const { writes, outcome } = decision;
      const closing = await send([
        ...writes,
        ...(outcome.rejections.length > 0 ? [insertRejections(ref.operationId, outcome.rejections)] : []),
        ...(claim.operationStatus === 'queued' ? [markStarted(ref.operationId)] : []),
        chunkApplied(ref.operationId, ref.chunkIndex, outcome),
        COMMIT,
        operationProgress(ref.operationId, ref.chunkIndex),
      ]);
      return { claimed: true, applied: outcome, progress: (closing.at(-1)?.[0] as OperationProgressRow) ?? null };
    } catch (error) {
      // The transaction is open (a statement failed) or ended (COMMIT or the read after it
      // failed: ROLLBACK then only warns; a redelivery of the chunk settles the operation). A
      // ROLLBACK that fails means the connection is gone and the pool drops it: the error worth
      // throwing is the first one.
      await sql`ROLLBACK`.execute(conn).catch(() => undefined);
      if (claimStatus !== null && stateMoved(error)) {
        // Another delivery of this chunk committed while this one ran: it is applied, once.
        if (await isChunkRecorded(conn, ref.operationId, ref.chunkIndex))
          return { claimed: false, claim: { claimed: false, operationStatus: claimStatus } };
        if (work.fallback) return { fallback: work.fallback };
      }
      throw error;
    }
  });
}
