import { type Kysely, sql } from 'kysely';

/** `operation_summaries` as migration 0004 made it, with `waiting_for` after its columns or not. */
const summariesView = (withWaitingFor: boolean) => sql`
  CREATE VIEW operation_summaries AS
  SELECT o.operation_id, o.seq, o.kind, o.enterprise_id, o.payload_hash, o.params, o.source, o.status,
         o.items_total, o.chunks_total,
         coalesce(p.chunks_done, 0)::int AS chunks_done, coalesce(p.chunks_failed, 0)::int AS chunks_failed,
         coalesce(p.items_done, 0)::int AS items_done, coalesce(p.applied, 0)::int AS applied,
         coalesce(p.unchanged, 0)::int AS unchanged, coalesce(p.superseded, 0)::int AS superseded,
         coalesce(p.rejected, 0)::int AS rejected,
         o.error, o.created_at, o.started_at, o.finished_at,
         greatest(o.updated_at, p.updated_at) AS updated_at
         ${withWaitingFor ? sql`, o.waiting_for` : sql``}
  FROM operations o
  LEFT JOIN LATERAL (
    SELECT sum(chunks_done) AS chunks_done, sum(chunks_failed) AS chunks_failed, sum(items_done) AS items_done,
           sum(applied) AS applied, sum(unchanged) AS unchanged, sum(superseded) AS superseded,
           sum(rejected) AS rejected, max(updated_at) AS updated_at
    FROM operation_progress WHERE operation_id = o.operation_id
  ) p ON true`;

/**
 * What unfinished operations touch (`src/domain/ordering/claims.ts`): a chunk waits while an
 * operation published before it holds a claim that conflicts with its own, so operations that
 * depend on each other apply in publication order. An operation's claims are written with it and
 * deleted when it reaches a final status. Paths compare byte-wise, so the paths below a class
 * are one index range.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('operation_claims')
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('path', sql`text COLLATE "C"`, (c) => c.notNull())
    .addColumn('write', 'boolean', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('operation_claims_path_idx').on('operation_claims').columns(['path', 'seq']).execute();
  await db.schema.createIndex('operation_claims_seq_idx').on('operation_claims').column('seq').execute();

  // The operations a waiting chunk last found in its way, for the publisher to see.
  await db.schema
    .alterTable('operations')
    .addColumn('waiting_for', sql`text[]`)
    .execute();
  await sql`DROP VIEW operation_summaries`.execute(db);
  await summariesView(true).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP VIEW operation_summaries`.execute(db);
  await summariesView(false).execute(db);
  await db.schema.alterTable('operations').dropColumn('waiting_for').execute();
  await db.schema.dropTable('operation_claims').execute();
}
