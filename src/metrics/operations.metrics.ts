import { type Kysely, sql } from 'kysely';
import { Gauge, type Registry } from 'prom-client';
import type { Database } from '../db/schema.js';
import { OPERATION_KINDS, OPERATION_STATUSES } from '../contract/index.js';

/**
 * Operations by kind and status, read from Postgres at scrape: the one place that knows them
 * for every process and after restarts. Returns the refresh to run before rendering.
 */
export function createOperationsGauge(registry: Registry, db: Kysely<Database>): () => Promise<void> {
  const gauge = new Gauge({
    name: 'benefits_operations',
    help: 'Operations recorded in Postgres, by kind and status',
    labelNames: ['kind', 'status'] as const,
    registers: [registry],
  });
  return async () => {
    // Cleared first: when Postgres does not answer, the scrape shows no values rather than old ones.
    gauge.reset();
    const { rows } = await sql<{ kind: string; status: string; n: number }>`
      select kind, status, count(*)::int as n from operations group by 1, 2`.execute(db);
    // Every known pair is reported, at zero when absent, so a status that empties shows 0
    // rather than vanishing with its last value.
    for (const kind of OPERATION_KINDS) for (const status of OPERATION_STATUSES) gauge.labels(kind, status).set(0);
    for (const row of rows) gauge.labels(row.kind, row.status).set(row.n);
  };
}
