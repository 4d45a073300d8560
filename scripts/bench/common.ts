import type pg from 'pg';
import { isFinal } from '../../src/domain/operation-status.js';
import type { CompletionWaiter } from './completion-waiter.js';
import type { CpuReport } from './cpu-usage.js';
import type { RedisMemoryReport } from './redis-memory.js';
import type { RssReport } from './worker-processes.js';

export const CHUNK = 100;

export interface ServiceRun {
  items: number;
  seconds: number;
  rate: number;
  /** How long publishing took (validate, record, enqueue every chunk), within `seconds`. */
  publishSeconds: number;
  rss: RssReport;
  redis: RedisMemoryReport;
  cpu: CpuReport;
}

export interface ReferenceRun {
  items: number;
  seconds: number;
  rate: number;
  connections: number;
  cpu: CpuReport;
}

/** One round of a scenario: the service and the two hand-written references, on the same work. */
export interface Round {
  service: ServiceRun;
  /** Three statements per chunk, in a transaction that locks the rows it changes. */
  reference: ReferenceRun;
  /** One statement per chunk, no explicit locks: the leanest hand-written SQL. */
  lean: ReferenceRun;
}

export const log = (message: string) => process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${message}\n`);

export function slices<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export const memberId = (i: number) => `bm-${String(i).padStart(7, '0')}`;

export class BenchTimeoutError extends Error {
  override name = 'BenchTimeoutError';
  readonly code = 'bench_timeout';
}

/**
 * Asks Postgres (the source of truth) until every operation is final. Throws a clear error
 * when the deadline passes or `check` throws (a worker process died).
 */
export async function waitForOperations(
  pool: pg.Pool,
  operationIds: readonly string[],
  options: {
    timeoutMs: number;
    label: string;
    check?: () => void;
    /** Wakes the wait when the operations announce their end; without it, Postgres is asked every 25 ms. */
    finished?: CompletionWaiter;
  },
): Promise<Map<string, { status: string; applied: number; rejected: number }>> {
  const started = Date.now();
  let lastProgress = started;
  for (;;) {
    const { rows } = await pool.query<{
      operation_id: string;
      status: string;
      applied: number;
      rejected: number;
      items_done: number;
      items_total: number;
    }>(
      `SELECT operation_id, status, applied, rejected, items_done, items_total
       FROM operation_summaries WHERE operation_id = ANY($1::text[])`,
      [operationIds],
    );
    const done = rows.filter((r) => isFinal(r.status));
    if (done.length === operationIds.length) return new Map(rows.map((r) => [r.operation_id, r]));
    const itemsDone = rows.reduce((n, r) => n + r.items_done, 0);
    const itemsTotal = rows.reduce((n, r) => n + r.items_total, 0);
    if (Date.now() - started > options.timeoutMs) {
      throw new BenchTimeoutError(
        `${options.label}: ${operationIds.length - done.length} of ${operationIds.length} operations not final after ` +
          `${options.timeoutMs / 1000} s (${itemsDone}/${itemsTotal} items done); raise --timeout or check the workers`,
      );
    }
    options.check?.();
    if (Date.now() - lastProgress >= 5_000) {
      lastProgress = Date.now();
      log(
        `  ${options.label}: ${itemsDone}/${itemsTotal} items, ${done.length}/${operationIds.length} operations final`,
      );
    }
    // With events, Postgres is asked again only when they say the operations ended, or every half second.
    if (options.finished) await options.finished.until(operationIds, 500);
    else await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * The hand-written side: `connections` clients, each taking the next chunk until none are
 * left, in the order given (the order the service's queue hands chunks out).
 */
export async function runLanes(
  pool: pg.Pool,
  connections: number,
  tasks: number,
  apply: (client: pg.PoolClient, task: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = await pool.connect();
      try {
        for (let task = next++; task < tasks; task = next++) await apply(client, task);
      } finally {
        client.release();
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/** One transaction on a checked-out client, rolled back on any error. */
export async function inTransaction(client: pg.PoolClient, body: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await body();
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

export async function vacuum(pool: pg.Pool, tables: readonly string[]): Promise<void> {
  for (const table of tables) await pool.query(`VACUUM ANALYZE ${table}`);
}
