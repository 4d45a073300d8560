import type { ChunkOutcome } from '../domain/outcomes.js';
import type { RowsOf } from '../db/pipeline.js';
import type { NamedQuery } from '../db/statements.js';

export interface ChunkDecision {
  /** Sent with COMMIT, in this order. */
  writes: readonly NamedQuery<unknown>[];
  outcome: ChunkOutcome;
}

/**
 * What applying a chunk takes, in the two steps its transaction has: the reads (row locks
 * included), then, decided from the rows they answered with (in the order of `reads`), the writes.
 */
export interface ChunkWork<Reads extends readonly NamedQuery<unknown>[] = readonly NamedQuery<any>[]> {
  /** Sent with BEGIN and the chunk's claim, run in this order. */
  reads: Reads;
  /** The writes, or null when these reads cannot settle the chunk: then `fallback` does. */
  decide(rows: RowsOf<Reads>): ChunkDecision | null;
  /**
   * The same chunk done under locks, for work that reads without them: it runs in a transaction
   * of its own when `decide` declines, or when a write finds the state it was decided on has moved
   * (a `chunk_guard` failure, a unique key another chunk took meanwhile, or a deadlock with a
   * chunk that locks in another order). Built only then: most chunks never need it.
   */
  fallback?: () => ChunkWork;
}

/** A ChunkWork with the rows of its reads typed from them. */
export const chunkWork = <const Reads extends readonly NamedQuery<unknown>[]>(work: ChunkWork<Reads>): ChunkWork =>
  work as unknown as ChunkWork;

/**
 * A read sent with the claim that decides whether the chunk may apply now at all (publication
 * order: `src/workers/chunk-waits.ts`); read before anything is decided or written.
 */
export interface ChunkGate {
  /** Sent in this order after the claim. */
  statements: readonly NamedQuery<unknown>[];
  /** Given the rows of each statement, in order: whether the chunk may apply now. */
  passes(rows: unknown[][]): boolean;
}
