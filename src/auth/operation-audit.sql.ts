import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/schema.js';

export interface OperationAudit {
  publishedBy: string | null;
  cancelledBy: string | null;
  retriedBy: string | null;
}

/**
 * Records the key that published the operation. Written after the operation is recorded, and
 * again by an identical re-publish, so a process stopped between the two leaves it filled by the
 * next attempt; the first writer stays.
 */
export async function recordPublisher(db: Kysely<Database>, operationId: string, keyId: string | null): Promise<void> {
  if (keyId === null) return;
  await db
    .insertInto('operation_audit')
    .values({ operation_id: operationId, published_by: keyId })
    .onConflict((oc) =>
      oc
        .column('operation_id')
        .doUpdateSet({ published_by: sql`coalesce(operation_audit.published_by, excluded.published_by)` }),
    )
    .execute();
}

/** Records who cancelled the operation, or retried it last. */
export async function recordControl(
  db: Kysely<Database>,
  operationId: string,
  action: 'cancel' | 'retry',
  keyId: string | null,
): Promise<void> {
  const values =
    action === 'cancel'
      ? { cancelled_by: keyId, cancelled_at: sql<Date>`now()` }
      : { retried_by: keyId, retried_at: sql<Date>`now()` };
  await db
    .insertInto('operation_audit')
    .values({ operation_id: operationId, ...values })
    .onConflict((oc) => oc.column('operation_id').doUpdateSet(values))
    .execute();
}

export async function findAudit(db: Kysely<Database>, operationId: string): Promise<OperationAudit> {
  const row = await db
    .selectFrom('operation_audit')
    .select(['published_by', 'cancelled_by', 'retried_by'])
    .where('operation_id', '=', operationId)
    .executeTakeFirst();
  return {
    publishedBy: row?.published_by ?? null,
    cancelledBy: row?.cancelled_by ?? null,
    retriedBy: row?.retried_by ?? null,
  };
}
