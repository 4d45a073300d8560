import { type Kysely, sql } from 'kysely';

// Frozen in time: the shard count is the one this migration was written with. The code takes its
// own (`PROGRESS_SHARDS`); any count reads back right, since the view sums every shard.
const COUNTERS = [
  'chunks_done',
  'chunks_failed',
  'items_done',
  'applied',
  'unchanged',
  'superseded',
  'rejected',
] as const;

/**
 * Every chunk of a batch added its counts to its operation's row and held that row's lock through
 * its COMMIT, so the commits of a batch's chunks ran one after another (README, Performance). The
 * counts move to a few shard rows per operation, which chunks of neighbouring indexes update
 * without waiting on each other; `operation_summaries` reads an operation with its totals.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('operation_progress')
    .addColumn('operation_id', 'text', (c) => c.notNull())
    .addColumn('shard', 'integer', (c) => c.notNull())
    .$call((t) => COUNTERS.reduce((b, name) => b.addColumn(name, 'integer', (c) => c.notNull().defaultTo(0)), t))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('operation_progress_pk', ['operation_id', 'shard'])
    .execute();
  await sql`
    INSERT INTO operation_progress (operation_id, shard, ${sql.raw(COUNTERS.join(', '))}, updated_at)
    SELECT operation_id, 0, ${sql.raw(COUNTERS.join(', '))}, updated_at FROM operations`.execute(db);
  for (const name of COUNTERS) await db.schema.alterTable('operations').dropColumn(name).execute();
  await sql`
    CREATE VIEW operation_summaries AS
    SELECT o.operation_id, o.seq, o.kind, o.enterprise_id, o.payload_hash, o.params, o.source, o.status,
           o.items_total, o.chunks_total,
           ${sql.raw(COUNTERS.map((name) => `coalesce(p.${name}, 0)::int AS ${name}`).join(', '))},
           o.error, o.created_at, o.started_at, o.finished_at,
           greatest(o.updated_at, p.updated_at) AS updated_at
    FROM operations o
    LEFT JOIN LATERAL (
      SELECT ${sql.raw(COUNTERS.map((name) => `sum(${name}) AS ${name}`).join(', '))}, max(updated_at) AS updated_at
      FROM operation_progress WHERE operation_id = o.operation_id
    ) p ON true`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP VIEW operation_summaries`.execute(db);
  for (const name of COUNTERS)
    await db.schema
      .alterTable('operations')
      .addColumn(name, 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  await sql`
    UPDATE operations o SET ${sql.raw(COUNTERS.map((name) => `${name} = p.${name}`).join(', '))}
    FROM (SELECT operation_id, ${sql.raw(COUNTERS.map((name) => `sum(${name})::int AS ${name}`).join(', '))}
          FROM operation_progress GROUP BY operation_id) p
    WHERE p.operation_id = o.operation_id`.execute(db);
  await db.schema.dropTable('operation_progress').execute();
}
