import { type Kysely, Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../src/db/migrate.js';
import { migrationProvider } from '../../src/db/migrations/index.js';
import { type Isolated, isolate } from '../support/isolation.js';
import { adminDb } from '../support/servers.js';

let isolated: Isolated;
let db: Kysely<any>;
beforeAll(async () => {
  isolated = await isolate('migrations');
  db = adminDb(isolated.databaseUrl);
});
afterAll(async () => {
  await db?.destroy();
  await isolated?.dispose();
});

/** Back to the schema just before migration 0004. */
const migrateBefore0004 = async () => {
  const { error } = await new Migrator({ db, provider: migrationProvider }).migrateTo(
    '0003-chunk-claim-without-foreign-key',
  );
  if (error) throw error;
};

const counters = async (table: 'operations' | 'operation_summaries') =>
  db
    .selectFrom(table)
    .select(['chunks_done', 'chunks_failed', 'items_done', 'applied', 'unchanged', 'superseded', 'rejected'])
    .where('operation_id', '=', 'op-migrated')
    .executeTakeFirstOrThrow();

describe('migration 0004: operation counters in progress shards', () => {
  it('carries the counters of existing operations over, and back on the way down', async () => {
    const before = {
      chunks_done: 3,
      chunks_failed: 1,
      items_done: 300,
      applied: 200,
      unchanged: 40,
      superseded: 10,
      rejected: 50,
    };
    await migrateBefore0004();
    await db
      .insertInto('operations')
      .values({
        operation_id: 'op-migrated',
        kind: 'sharing.set',
        payload_hash: 'h',
        source: 'producer',
        status: 'running',
        items_total: 500,
        chunks_total: 5,
        ...before,
      })
      .execute();

    await migrateToLatest(db);
    expect(await counters('operation_summaries')).toEqual(before);
    const columns = await sql<{ column_name: string }>`
      SELECT column_name FROM information_schema.columns WHERE table_name = 'operations'`.execute(db);
    expect(columns.rows.map((c) => c.column_name)).not.toContain('chunks_done');

    // A chunk applied after the upgrade lands in a shard of its own; the view adds them up.
    await db
      .insertInto('operation_progress')
      .values({ operation_id: 'op-migrated', shard: 4, chunks_done: 1, items_done: 100, applied: 100 })
      .execute();
    const after = { ...before, chunks_done: 4, items_done: 400, applied: 300 };
    expect(await counters('operation_summaries')).toEqual(after);

    await migrateBefore0004();
    expect(await counters('operations')).toEqual(after);
  });
});
