/**
 * What storing operations' items costs Postgres (issue 22): records a `sharing.set` and a
 * `coupons.allocate` of `--items` items each the way the publisher does, on a database of its own
 * (removed at the end), and prints the size of `operation_items` per million items.
 *
 *   npx tsx scripts/item-storage.ts [--items 1000000]
 */
import { Command, InvalidArgumentError } from 'commander';
import { sql } from 'kysely';
import { loadConfig } from '../src/config.js';
import { createDatabase } from '../src/db/database.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { repeatsOf } from '../src/domain/repeats.js';
import { plannedJobs } from '../src/producers/chunk-enqueuer.js';
import { describeOperation } from '../src/producers/operation-record.js';
import { recordWithItems } from '../src/producers/operation-store.js';
import type { Operation } from '../src/contract/index.js';

const options = new Command()
  .option(
    '--items <n>',
    'items per operation',
    (value) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
      return n;
    },
    1_000_000,
  )
  .parse()
  .opts<{ items: number }>();

const admin = createDatabase({ connectionString: loadConfig().databaseUrl, poolSize: 1, onError: console.error });
const name = `benefits_item_storage_${process.pid}`;
const url = new URL(loadConfig().databaseUrl);
url.pathname = `/${name}`;
await sql`CREATE DATABASE ${sql.id(name)}`.execute(admin);
const db = createDatabase({ connectionString: url.toString(), poolSize: 2, onError: console.error });
try {
  await migrateToLatest(db);
  const memberIds = Array.from({ length: options.items }, (_, i) => `member-${String(i).padStart(8, '0')}`);
  const operations: Operation[] = [
    { operationId: 'size-sharing', kind: 'sharing.set', enterpriseId: 'E-size', enabled: true, memberIds },
    {
      operationId: 'size-allocate',
      kind: 'coupons.allocate',
      enterpriseId: 'E-size',
      couponId: 'CPN-size',
      allocations: memberIds.map((memberId, i) => ({
        memberId,
        amount: `${1 + (i % 50)}.${String(i % 100).padStart(2, '0')}`,
      })),
    },
  ] as Operation[];
  for (const operation of operations) {
    const { record, items } = describeOperation(operation, operation.operationId!);
    const jobs = [];
    for await (const job of plannedJobs(items, record.chunksTotal, record.itemKey, repeatsOf(items, record.itemKey)))
      jobs.push(job);
    const before = await tableBytes();
    const started = performance.now();
    await recordWithItems(
      db,
      {
        operation_id: record.operationId,
        kind: record.kind,
        enterprise_id: record.enterpriseId,
        payload_hash: record.payloadHash,
        params: JSON.stringify(record.params),
        source: 'producer',
        status: 'queued',
        items_total: record.itemsTotal,
        chunks_total: record.chunksTotal,
      },
      [],
      jobs,
    );
    const ms = performance.now() - started;
    const bytes = (await tableBytes()) - before;
    console.log(
      `${operation.kind}: ${options.items} items, ${jobs.length} rows, recorded in ${ms.toFixed(0)} ms; ` +
        `${(bytes / 2 ** 20).toFixed(1)} MiB, ${(((bytes / options.items) * 1e6) / 2 ** 20).toFixed(1)} MiB per million items`,
    );
  }
} finally {
  await db.destroy();
  await sql`DROP DATABASE IF EXISTS ${sql.id(name)} WITH (FORCE)`.execute(admin);
  await admin.destroy();
}

async function tableBytes(): Promise<number> {
  await sql`VACUUM ANALYZE operation_items`.execute(db);
  const { rows } = await sql<{ bytes: string }>`SELECT pg_total_relation_size('operation_items') AS bytes`.execute(db);
  return Number(rows[0]!.bytes);
}
