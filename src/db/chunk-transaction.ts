import { type Kysely, sql } from 'kysely';
import type { ChunkOutcome } from '../domain/operations/item-outcome.js';
import {
  chunkAppliedStatement,
  type ChunkClaim,
  type ClaimRow,
  claimChunkStatement,
  insertRejections,
  type OperationProgressRow,
  toChunkClaim,
} from './operations.repository.js';
import type { Database, Tx } from './schema.js';

export interface ChunkRef {
  operationId: string;
  chunkIndex: number;
}

export type ChunkTransactionResult =
  | { claimed: true; applied: ChunkOutcome; progress: OperationProgressRow | undefined }
  | { claimed: false; claim: Extract<ChunkClaim, { claimed: false }> };

/**
 * Runs one chunk as one Postgres transaction, in as few round trips as the work allows (each one
 * is a socket write and a wake-up on both sides, which is most of what a chunk costs): BEGIN
 * travels with the claim, and COMMIT with the update of the operation's counters, so the
 * operation's row, which every chunk of the batch updates, is locked no longer than the commit
 * takes. A clean chunk of a member batch costs four round trips: claim, lock, write, commit.
 *
 * A chunk that was claimed before (a redelivery) is rolled back untouched.
 */
export async function runChunkTransaction(
  db: Kysely<Database>,
  ref: ChunkRef,
  apply: (tx: Tx) => Promise<ChunkOutcome>,
): Promise<ChunkTransactionResult> {
  return db.connection().execute(async (conn) => {
    try {
      const claimed = await sql<ClaimRow>`BEGIN; ${claimChunkStatement(ref.operationId, ref.chunkIndex)}`.execute(conn);
      const claim = toChunkClaim(claimed.rows);
      if (!claim.claimed) {
        await sql`ROLLBACK`.execute(conn);
        return { claimed: false, claim };
      }
      const applied = await apply(conn);
      await insertRejections(conn, ref.operationId, applied.rejections);
      const { rows } = await sql<OperationProgressRow>`
        ${chunkAppliedStatement(ref.operationId, ref.chunkIndex, applied)};
        COMMIT`.execute(conn);
      return { claimed: true, applied, progress: rows[0] };
    } catch (error) {
      // The transaction is open (a statement failed) or ended (COMMIT failed: ROLLBACK then only
      // warns). A ROLLBACK that fails means the connection is gone and the pool drops it: the
      // error worth throwing is the first one.
      await sql`ROLLBACK`.execute(conn).catch(() => undefined);
      throw error;
    }
  });
}
