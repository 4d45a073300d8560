import { type Kysely, sql } from 'kysely';

// Money is stored in integer minor units (cents), never floats.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('coupons')
    .addColumn('coupon_id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('face_value_cents', 'bigint', (c) => c.notNull())
    .addColumn('balance_cents', 'bigint', (c) => c.notNull())
    .addColumn('allocation_mode', 'text', (c) => c.notNull())
    .addColumn('valid_from', 'timestamptz', (c) => c.notNull())
    .addColumn('valid_until', 'timestamptz', (c) => c.notNull())
    .addColumn('products', sql`text[]`, (c) => c.notNull())
    // A `once` coupon accepts a single allocation operation: the first one to touch it.
    .addColumn('allocation_operation_id', 'text')
    .addColumn('issued_by_operation_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('coupons_balance_within_face', sql`balance_cents >= 0 AND balance_cents <= face_value_cents`)
    .addCheckConstraint('coupons_mode', sql`allocation_mode IN ('once', 'multiple')`)
    .execute();
  await db.schema.createIndex('coupons_enterprise_idx').on('coupons').columns(['enterprise_id', 'coupon_id']).execute();

  await db.schema
    .createTable('member_coupons')
    .addColumn('coupon_id', 'text', (c) => c.notNull().references('coupons.coupon_id'))
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('allocated_cents', 'bigint', (c) => c.notNull())
    .addColumn('revoked_cents', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('spent_cents', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('unused_cents', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('member_coupons_pk', ['coupon_id', 'member_id'])
    .addCheckConstraint('member_coupons_unused_not_negative', sql`unused_cents >= 0`)
    .addCheckConstraint('member_coupons_ledger', sql`allocated_cents = unused_cents + revoked_cents + spent_cents`)
    .execute();
  await db.schema.createIndex('member_coupons_member_idx').on('member_coupons').columns(['member_id']).execute();

  await db.schema
    .createTable('coupon_history')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('operation_id', 'text', (c) => c.notNull())
    .addColumn('coupon_id', 'text', (c) => c.notNull())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('member_id', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('amount_cents', 'bigint', (c) => c.notNull())
    .addColumn('coupon_balance_after_cents', 'bigint', (c) => c.notNull())
    .addColumn('member_balance_after_cents', 'bigint')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // Exactly one row per applied item, whatever the retries (issue rows have no member).
  await sql`CREATE UNIQUE INDEX coupon_history_item_uq ON coupon_history (operation_id, coupon_id, member_id) NULLS NOT DISTINCT`.execute(
    db,
  );
  await db.schema.createIndex('coupon_history_coupon_idx').on('coupon_history').columns(['coupon_id', 'id']).execute();
  await db.schema
    .createIndex('coupon_history_enterprise_idx')
    .on('coupon_history')
    .columns(['enterprise_id', 'id'])
    .execute();

  await db.schema.alterTable('operation_rejections').addColumn('coupon_id', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('operation_rejections').dropColumn('coupon_id').execute();
  for (const table of ['coupon_history', 'member_coupons', 'coupons']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
