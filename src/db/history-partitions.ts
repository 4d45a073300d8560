import { type Kysely, sql } from 'kysely';
import { monthOfPartition, monthsBetween, nextMonth, operationMonth, partitionName } from '../domain/history-months.js';
import type { Database } from './schema.js';

/** The tables partitioned by their operation's month (migration 0010). */
export const HISTORY_TABLES = ['sharing_history', 'coupon_history', 'package_history', 'usage_history'] as const;

/** Months created ahead of the current one, so an insert never waits for a partition. */
export const MONTHS_AHEAD = 3;

// One process at a time creates or drops partitions; others wait, then find them made.
const PARTITION_LOCK = 72_410_010;
// Attaching a partition briefly locks its table against writers: never queue behind a long one.
const LOCK_TIMEOUT = '5s';

/** A table's partitions by month, oldest first. */
export async function historyPartitions(
  db: Kysely<Database>,
  table: (typeof HISTORY_TABLES)[number],
): Promise<{ name: string; month: string }[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = ${table}::regclass`.execute(db);
  return rows
    .map(({ name }) => ({ name, month: monthOfPartition(table, name) }))
    .filter((p): p is { name: string; month: string } => p.month !== null)
    .sort((a, b) => a.month.localeCompare(b.month));
}

/**
 * Creates the partitions every history table needs: from the month of the oldest operation still
 * to apply (or this month) to MONTHS_AHEAD months ahead. Run at start-up and periodically; cheap
 * when they exist. Returns the partitions it created.
 */
export async function ensureHistoryPartitions(db: Kysely<Database>, now = new Date()): Promise<string[]> {
  const { rows } = await sql<{ oldest: Date | null }>`
    SELECT min(created_at) AS oldest FROM operations WHERE status IN ('queued', 'running')`.execute(db);
  const oldest = rows[0]?.oldest ?? null;
  const first = operationMonth(oldest !== null && oldest < now ? oldest : now);
  let last = operationMonth(now);
  for (let i = 0; i < MONTHS_AHEAD; i += 1) last = nextMonth(last);
  const wanted = monthsBetween(first, last);

  const missing: { table: string; month: string }[] = [];
  for (const table of HISTORY_TABLES) {
    const have = new Set((await historyPartitions(db, table)).map((p) => p.month));
    for (const month of wanted) if (!have.has(month)) missing.push({ table, month });
  }
  if (missing.length === 0) return [];
  return db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${PARTITION_LOCK})`.execute(tx);
    await sql`SELECT set_config('lock_timeout', ${LOCK_TIMEOUT}, true)`.execute(tx);
    const created: string[] = [];
    for (const { table, month } of missing) {
      const name = partitionName(table, month);
      const { rows: exists } = await sql`SELECT 1 FROM pg_class WHERE relname = ${name}
                                           AND relnamespace = current_schema()::regnamespace`.execute(tx);
      if (exists.length > 0) continue; // another process made it while this one waited for the lock
      await sql`CREATE TABLE ${sql.id(name)} PARTITION OF ${sql.id(table)}
                  FOR VALUES FROM (${sql.lit(month)}) TO (${sql.lit(nextMonth(month))})`.execute(tx);
      created.push(name);
    }
    return created;
  });
}

export type PruneResult =
  | { result: 'pruned'; dropped: string[] }
  /** Operations recorded before the cutoff are still to apply: their history is still written. */
  | { result: 'unfinished_operations'; operations: number };

/**
 * Drops every history partition of a month before `before` (`YYYY-MM-01`), detaching each first
 * (CONCURRENTLY: writers to other months are not blocked). Operations, their counts and
 * rejections stay. Refused while an operation recorded before the cutoff is still queued or
 * running; a failed one from a dropped month cannot be retried afterwards (its chunks fail again).
 */
export async function pruneHistory(db: Kysely<Database>, before: string): Promise<PruneResult> {
  const { rows } = await sql<{ count: number }>`
    SELECT count(*)::int AS count FROM operations
    WHERE status IN ('queued', 'running') AND created_at < (${before}::date::timestamp AT TIME ZONE 'UTC')`.execute(db);
  const unfinished = rows[0]?.count ?? 0;
  if (unfinished > 0) return { result: 'unfinished_operations', operations: unfinished };
  const dropped: string[] = [];
  for (const table of HISTORY_TABLES) {
    for (const { name, month } of await historyPartitions(db, table)) {
      if (month >= before) continue;
      await sql`ALTER TABLE ${sql.id(table)} DETACH PARTITION ${sql.id(name)} CONCURRENTLY`.execute(db);
      await sql`DROP TABLE ${sql.id(name)}`.execute(db);
      dropped.push(name);
    }
  }
  return { result: 'pruned', dropped };
}
