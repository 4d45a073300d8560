import type { Kysely } from 'kysely';
import type { PlannedChunk } from '../domain/chunk-plan.js';
import type { Claim } from '../domain/ordering/claims.js';
import type { Database, NewOperation } from '../db/schema.js';
import { IdempotencyConflictError } from '../errors.js';
import { insertItemRows } from '../operations/operation-items.sql.js';
import { insertOperation, type RecordResult } from '../operations/operation-records.js';

/** Item rows per INSERT: up to 64 jobs of 1,000 items, a few MB, in one round trip. */
const ROWS_PER_INSERT = 64;

/**
 * Records an operation and stores its items, in one transaction: a publisher that dies before
 * the commit leaves nothing, one that dies after it leaves an operation the reconciler can finish
 * from Postgres alone. The items go first, slice by slice as they are read (a streamed batch keeps
 * its memory bounded), the operation last: it draws its sequence number and holds its recording
 * lock (`ordering.sql.ts`) only for the moment before the commit. An operation recorded before
 * with the same payload keeps its rows (they are the same); another payload under its id is an
 * IdempotencyConflictError and rolls back whatever this one wrote.
 */
export async function recordWithItems(
  db: Kysely<Database>,
  operation: NewOperation,
  claims: readonly Claim[],
  jobs: Iterable<PlannedChunk<unknown>> | AsyncIterable<PlannedChunk<unknown>>,
): Promise<RecordResult> {
  return db.transaction().execute(async (tx) => {
    let slice: PlannedChunk<unknown>[] = [];
    for await (const job of jobs) {
      slice.push(job);
      if (slice.length === ROWS_PER_INSERT) {
        await insertItemRows(tx, operation.operation_id, slice);
        slice = [];
      }
    }
    await insertItemRows(tx, operation.operation_id, slice);
    const recorded = await insertOperation(tx, operation, claims);
    if (recorded.operation.payload_hash !== operation.payload_hash)
      throw new IdempotencyConflictError(operation.operation_id);
    return recorded;
  });
}
