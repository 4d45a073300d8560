import { type Kysely, sql } from 'kysely';

// Frozen in time: never edit a migration that has shipped; add a new one.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('operations')
    .addColumn('operation_id', 'text', (c) => c.primaryKey())
    .addColumn('seq', 'bigserial', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('enterprise_id', 'text')
    .addColumn('payload_hash', 'text', (c) => c.notNull())
    .addColumn('params', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('items_total', 'integer', (c) => c.notNull())
    .addColumn('chunks_total', 'integer')
    .addColumn('chunks_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('chunks_failed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('items_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('applied', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unchanged', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('superseded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rejected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('operations_status_idx').on('operations').columns(['status', 'created_at']).execute();

  await db.schema
    .createTable('operation_chunks')
    .addColumn('operation_id', 'text', (c) => c.notNull().references('operations.operation_id').onDelete('cascade'))
    .addColumn('chunk_index', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('applied', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('unchanged', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('superseded', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('rejected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('finished_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('operation_chunks_pk', ['operation_id', 'chunk_index'])
    .execute();

  await db.schema
    .createTable('operation_rejections')
    .addColumn('operation_id', 'text', (c) => c.notNull().references('operations.operation_id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('member_id', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('operation_rejections_pk', ['operation_id', 'position'])
    .execute();

  await db.schema
    .createTable('enterprises')
    .addColumn('enterprise_id', 'text', (c) => c.primaryKey())
    .addColumn('share_with_new_members', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('default_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('members')
    .addColumn('member_id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text')
    .addColumn('sharing_enabled', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('associated_at', 'timestamptz')
    .addColumn('last_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('members_enterprise_idx').on('members').columns(['enterprise_id', 'member_id']).execute();

  await db.schema
    .createTable('sharing_history')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('operation_id', 'text', (c) => c.notNull())
    .addColumn('operation_seq', 'bigint', (c) => c.notNull())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('sharing_before', 'boolean')
    .addColumn('sharing_after', 'boolean')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // The guard behind "exactly one history row per (operation, member)", whatever the retries.
    .addUniqueConstraint('sharing_history_operation_member_uq', ['operation_id', 'member_id'])
    .execute();
  await db.schema
    .createIndex('sharing_history_member_idx')
    .on('sharing_history')
    .columns(['member_id', 'id'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'sharing_history',
    'members',
    'enterprises',
    'operation_rejections',
    'operation_chunks',
    'operations',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
