import { type Kysely, sql } from 'kysely';

/**
 * An operation's items, kept in Postgres so a batch survives the loss of everything in Redis: one
 * row per chunk job (its first chunk and how many it holds, its first item's position, its items
 * as a JSON array, the positions that repeat an earlier key). Text rather than jsonb: nothing
 * queries inside the items, text is not parsed on insert, and Postgres compresses both alike
 * (TOAST). No foreign key: the rows are written just before their operation, in the same
 * transaction (`src/producers/operation-store.ts`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('operation_items')
    .addColumn('operation_id', 'text', (c) => c.notNull())
    .addColumn('chunk_index', 'integer', (c) => c.notNull())
    .addColumn('chunk_count', 'integer', (c) => c.notNull())
    .addColumn('item_offset', 'integer', (c) => c.notNull())
    .addColumn('item_count', 'integer', (c) => c.notNull())
    .addColumn('items', 'text', (c) => c.notNull())
    .addColumn('repeats', sql`integer[]`)
    .addPrimaryKeyConstraint('operation_items_pkey', ['operation_id', 'chunk_index'])
    .execute();
  // lz4 stores a million allocations in a quarter less space than the default pglz, at half its
  // cost to the publisher; a server built without it keeps pglz.
  await sql`
    DO $$ BEGIN
      ALTER TABLE operation_items ALTER COLUMN items SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
      RAISE NOTICE 'operation_items.items: lz4 not available, keeping pglz';
    END $$`.execute(db);
  // The retention's search: operations final since when.
  await sql`CREATE INDEX operations_finished_at_idx ON operations (finished_at) WHERE finished_at IS NOT NULL`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX operations_finished_at_idx`.execute(db);
  await db.schema.dropTable('operation_items').execute();
}
