import { type Kysely, sql } from 'kysely';

/**
 * API keys and who acted on an operation. A key is stored only as the SHA-256 of its text: the
 * text has 256 random bits, so a plain digest cannot be reversed, and looking a key up by its
 * digest needs no secret comparison in application code.
 *
 * Who published, cancelled or retried an operation lives beside it, in `operation_audit`, rather
 * than in `operations`: the chunk path never reads it, and `operation_summaries` stays as it is.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'bytea', (c) => c.notNull().unique())
    .addColumn('scopes', sql`text[]`, (c) => c.notNull())
    // null or empty: every enterprise.
    .addColumn('enterprises', sql`text[]`)
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('operation_audit')
    .addColumn('operation_id', 'text', (c) => c.primaryKey().references('operations.operation_id').onDelete('cascade'))
    .addColumn('published_by', 'text')
    .addColumn('cancelled_by', 'text')
    .addColumn('cancelled_at', 'timestamptz')
    .addColumn('retried_by', 'text')
    .addColumn('retried_at', 'timestamptz')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('operation_audit').execute();
  await db.schema.dropTable('api_keys').execute();
}
