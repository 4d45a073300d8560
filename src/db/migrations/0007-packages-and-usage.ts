import { type Kysely, sql } from 'kysely';

/**
 * Resource packages and usage settlement. Quantities are integer millionths of the product's unit
 * (bigint), money integer cents: never floats. The ledger's invariants are CHECKs where one row
 * holds them: a package's `quantity = remaining + consumed`, a settled record's
 * `quantity = covered + uncovered` and `priced = coupon money + pay-as-you-go`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('packages')
    .addColumn('package_id', 'text', (c) => c.primaryKey())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    // Null: the master's own package, which members with sharing on draw on; else the member's.
    .addColumn('owner_member_id', 'text')
    .addColumn('product', 'text', (c) => c.notNull())
    .addColumn('unit', 'text', (c) => c.notNull())
    .addColumn('quantity_micros', 'bigint', (c) => c.notNull())
    .addColumn('remaining_micros', 'bigint', (c) => c.notNull())
    .addColumn('consumed_micros', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('valid_from', 'timestamptz', (c) => c.notNull())
    .addColumn('valid_until', 'timestamptz', (c) => c.notNull())
    // "First issued" in the draw order: a sequence, since one chunk issues many at one now().
    .addColumn('issued_seq', 'bigint', (c) => c.generatedAlwaysAsIdentity())
    .addColumn('issued_by_operation_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('packages_quantity_positive', sql`quantity_micros > 0`)
    .addCheckConstraint('packages_remaining_not_negative', sql`remaining_micros >= 0 AND consumed_micros >= 0`)
    .addCheckConstraint('packages_ledger', sql`quantity_micros = remaining_micros + consumed_micros`)
    .addCheckConstraint('packages_validity', sql`valid_from < valid_until`)
    .execute();
  await db.schema
    .createIndex('packages_draw_idx')
    .on('packages')
    .columns(['enterprise_id', 'product', 'owner_member_id'])
    .execute();
  await db.schema
    .createIndex('packages_enterprise_idx')
    .on('packages')
    .columns(['enterprise_id', 'package_id'])
    .execute();

  await db.schema
    .createTable('package_history')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('operation_id', 'text', (c) => c.notNull())
    .addColumn('package_id', 'text', (c) => c.notNull())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('package_history_item_uq', ['operation_id', 'package_id'])
    .execute();

  await db.schema
    .createTable('usage_records')
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('record_id', 'text', (c) => c.notNull())
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('product', 'text', (c) => c.notNull())
    .addColumn('quantity_micros', 'bigint', (c) => c.notNull())
    .addColumn('amount_cents', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz', (c) => c.notNull())
    .addColumn('covered_micros', 'bigint', (c) => c.notNull())
    .addColumn('uncovered_micros', 'bigint', (c) => c.notNull())
    .addColumn('priced_cents', 'bigint', (c) => c.notNull())
    .addColumn('coupon_cents', 'bigint', (c) => c.notNull())
    .addColumn('payg_cents', 'bigint', (c) => c.notNull())
    .addColumn('operation_id', 'text', (c) => c.notNull())
    .addColumn('settled_seq', 'bigint', (c) => c.generatedAlwaysAsIdentity())
    .addColumn('settled_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('usage_records_pk', ['enterprise_id', 'record_id'])
    .addCheckConstraint(
      'usage_records_quantity',
      sql`quantity_micros > 0 AND covered_micros >= 0 AND uncovered_micros >= 0 AND quantity_micros = covered_micros + uncovered_micros`,
    )
    .addCheckConstraint(
      'usage_records_money',
      sql`amount_cents >= 0 AND coupon_cents >= 0 AND payg_cents >= 0 AND priced_cents = coupon_cents + payg_cents AND priced_cents <= amount_cents`,
    )
    .execute();
  await db.schema
    .createIndex('usage_records_member_idx')
    .on('usage_records')
    .columns(['enterprise_id', 'member_id', 'settled_seq'])
    .execute();

  await db.schema
    .createTable('usage_lines')
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('record_id', 'text', (c) => c.notNull())
    .addColumn('line_no', 'int4', (c) => c.notNull())
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    // The package or coupon drawn on; null for the pay-as-you-go line.
    .addColumn('benefit_id', 'text')
    .addColumn('quantity_micros', 'bigint')
    .addColumn('amount_cents', 'bigint')
    .addColumn('used_at', 'timestamptz', (c) => c.notNull())
    .addColumn('settled_seq', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('usage_lines_pk', ['enterprise_id', 'record_id', 'line_no'])
    .addCheckConstraint(
      'usage_lines_source',
      sql`source IN ('own_package', 'master_package', 'member_coupon', 'master_coupon', 'payg')`,
    )
    .addCheckConstraint('usage_lines_positive', sql`coalesce(quantity_micros, 1) > 0 AND coalesce(amount_cents, 1) > 0`)
    .execute();
  // A package's consumption history, newest first.
  await sql`CREATE INDEX usage_lines_benefit_idx ON usage_lines (benefit_id, settled_seq DESC) WHERE benefit_id IS NOT NULL`.execute(
    db,
  );
  // Arrears: a member's draws on the master's packages, by when they were used.
  await sql`CREATE INDEX usage_lines_master_draws_idx ON usage_lines (enterprise_id, member_id, used_at) WHERE source = 'master_package'`.execute(
    db,
  );

  await db.schema
    .createTable('usage_history')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('operation_id', 'text', (c) => c.notNull())
    .addColumn('enterprise_id', 'text', (c) => c.notNull())
    .addColumn('record_id', 'text', (c) => c.notNull())
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('usage_history_item_uq', ['operation_id', 'record_id'])
    .execute();

  // What members spent straight from the master's unallocated balance.
  await db.schema
    .alterTable('coupons')
    .addColumn('spent_cents', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('coupons')
    .addCheckConstraint(
      'coupons_spent_within_face',
      sql`spent_cents >= 0 AND balance_cents + spent_cents <= face_value_cents`,
    )
    .execute();
  await db.schema.alterTable('coupons').addColumn('issued_seq', 'bigint').execute();
  await sql`UPDATE coupons c SET issued_seq = o.n
            FROM (SELECT coupon_id, row_number() OVER (ORDER BY created_at, coupon_id) AS n FROM coupons) o
            WHERE o.coupon_id = c.coupon_id`.execute(db);
  await sql`ALTER TABLE coupons ALTER COLUMN issued_seq SET NOT NULL`.execute(db);
  await sql`ALTER TABLE coupons ALTER COLUMN issued_seq ADD GENERATED ALWAYS AS IDENTITY`.execute(db);
  await sql`SELECT setval(pg_get_serial_sequence('coupons', 'issued_seq'), coalesce(max(issued_seq), 0) + 1, false) FROM coupons`.execute(
    db,
  );

  await db.schema.alterTable('operation_rejections').addColumn('package_id', 'text').execute();
  await db.schema.alterTable('operation_rejections').addColumn('record_id', 'text').execute();

  await db.schema
    .alterTable('sharing_history')
    .addColumn('arrears_risk', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  await sql`CREATE INDEX sharing_history_arrears_idx ON sharing_history (operation_id, member_id) WHERE arrears_risk`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('sharing_history').dropColumn('arrears_risk').execute();
  await db.schema.alterTable('operation_rejections').dropColumn('record_id').execute();
  await db.schema.alterTable('operation_rejections').dropColumn('package_id').execute();
  await db.schema.alterTable('coupons').dropConstraint('coupons_spent_within_face').execute();
  await db.schema.alterTable('coupons').dropColumn('issued_seq').execute();
  await db.schema.alterTable('coupons').dropColumn('spent_cents').execute();
  for (const table of ['usage_history', 'usage_lines', 'usage_records', 'package_history', 'packages']) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
