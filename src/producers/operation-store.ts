import type { Kysely } from 'kysely';
import type { PlannedChunk } from '../domain/chunk-plan.js';
import type { Claim } from '../domain/ordering/claims.js';
import type { Database, NewOperation } from '../db/schema.js';
import { IdempotencyConflictError } from '../errors.js';
import { insertItemRows } from '../operations/operation-items.sql.js';
import { insertOperation, type RecordResult } from '../operations/operation-records.js';

/** Item rows per statement: up to 64 jobs of 1,000 items, a few MB, in one round trip. */
const ROWS_PER_INSERT = 64;

/**
 * Records an operation with the items of its chunk jobs, all or nothing: a publisher that dies
 * before the commit leaves nothing, one that dies after it leaves an operation the reconciler can
 * finish from Postgres alone. A batch of up to ROWS_PER_INSERT jobs is one statement
 * (`insertOperationWithClaims`), as cheap in round trips as recording the operation alone. A
 * larger one, or a stream, is one transaction: its items go first, slice by slice as they are read
 * (a stream's memory stays bounded), the operation last,
 * so that it draws its sequence number and holds its recording lock (`ordering.sql.ts`) only for
 * the moment before the commit; another payload already recorded under its id is an
 * IdempotencyConflictError and rolls back whatever was written.
 */
export async function recordWithItems(
  db: Kysely<Database>,
  operation: NewOperation,
  claims: readonly Claim[],
  jobs: readonly PlannedChunk<unknown>[] | AsyncIterable<PlannedChunk<unknown>>,
  /** Called as slices of items are stored, with how many they held (they commit with the operation). */
  onStored?: (items: number) => void,
): Promise<RecordResult> {
  if (Array.isArray(jobs) && jobs.length <= ROWS_PER_INSERT) return insertOperation(db, operation, claims, jobs);
  return db.transaction().execute(async (tx) => {
    let slice: PlannedChunk<unknown>[] = [];
    for await (const job of jobs) {
      slice.push(job);
      if (slice.length === ROWS_PER_INSERT) {
        await insertItemRows(tx, operation.operation_id, slice);
        onStored?.(slice.reduce((n, stored) => n + stored.items.length, 0));
        slice = [];
      }
    }
    const recorded = await insertOperation(tx, operation, claims, slice);
    onStored?.(slice.reduce((n, stored) => n + stored.items.length, 0));
    if (recorded.operation.payload_hash !== operation.payload_hash)
      throw new IdempotencyConflictError(operation.operation_id);
    return recorded;
  });
}
