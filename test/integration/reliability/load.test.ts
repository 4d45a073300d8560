import { createKey } from '../../../src/auth/api-keys.sql.js';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memberIds } from '../../support/harness.js';
import { isolate, type Isolated } from '../../support/isolation.js';
import { expectLedgerConsistent, type PublishedOperation } from '../../support/ledger-check.js';
import {
  pollUntil,
  type ServiceProcess,
  serviceEnv,
  sparePort,
  spawnService,
  stopChildren,
} from '../../support/processes.js';
import { adminDb, REDIS_URL } from '../../support/servers.js';

// Load: many publishers at once over HTTP on a real port, against one `npm start`-style process
// (API and workers together), while readers poll GET /v1/operations/:id. The suite runs a small
// default; the full size is LOAD_PUBLISHERS=50 LOAD_OPERATIONS=200 (10,000 operations of 100
// members, 1,000,000 items), with LOAD_TIMEOUT_MS to match (see README, Reliability).
const PUBLISHERS = Number(process.env.LOAD_PUBLISHERS ?? 20);
const OPERATIONS = Number(process.env.LOAD_OPERATIONS ?? 50);
const TIMEOUT_MS = Number(process.env.LOAD_TIMEOUT_MS ?? 180_000);
const MEMBERS_PER_OPERATION = 100;
const TOTAL = PUBLISHERS * OPERATIONS;
// Operations overlap on a pool of members, so publication order is under load as well.
const POOL = Math.min(10_000, Math.max(1_000, TOTAL * 10));
const READERS = 2;

let isolated: Isolated;
let db: Kysely<any>;
let service: ServiceProcess;
let base: string;
let authorization: string;
beforeAll(async () => {
  isolated = await isolate('rel_load');
  db = adminDb(isolated.databaseUrl);
  const port = await sparePort();
  base = `http://127.0.0.1:${port}`;
  service = spawnService(
    'all',
    serviceEnv(
      { databaseUrl: isolated.databaseUrl, redisUrl: REDIS_URL, queuePrefix: isolated.queuePrefix },
      { PORT: String(port), HOST: '127.0.0.1', WORKER_CONCURRENCY: '8', RATE_LIMIT_PER_MINUTE: '1000000' },
    ),
  );
  await service.ready();
  authorization = `Bearer ${(await createKey(db, { name: 'load', scopes: ['admin'], enterprises: [] })).key}`;
});
afterAll(async () => {
  await service?.stop();
  await stopChildren();
  await db?.destroy();
  await isolated?.dispose();
});

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const f = (n: number) => Math.round(n * 10) / 10;
  return {
    n: sorted.length,
    p50: f(percentile(sorted, 50)),
    p95: f(percentile(sorted, 95)),
    p99: f(percentile(sorted, 99)),
    max: f(sorted.at(-1) ?? NaN),
  };
};

async function postOperation(payload: Record<string, unknown>): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${base}/v1/operations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify(payload),
  });
  const body = await response.text();
  if (response.status !== 202) throw new Error(`publish answered ${response.status}: ${body}`);
  return performance.now() - started;
}

async function finalCount(prefix: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM operations
    WHERE operation_id LIKE ${`${prefix}%`} AND status IN ('completed', 'completed_with_rejections', 'failed', 'rejected', 'cancelled')`.execute(
    db,
  );
  return rows[0]!.n;
}

describe(`load: ${PUBLISHERS} publishers × ${OPERATIONS} operations of ${MEMBERS_PER_OPERATION} members`, () => {
  it(
    'completes every operation while GET /v1/operations/:id stays fast',
    async () => {
      const published: PublishedOperation[] = [];
      const pool = memberIds('load', POOL);
      const assoc = { operationId: 'load-assoc', kind: 'members.associate', enterpriseId: 'E-load', memberIds: pool };
      await postOperation(assoc);
      published.push({ operationId: assoc.operationId, payload: assoc });
      await pollUntil(
        'the pool to be associated',
        async () => ((await finalCount('load-assoc')) === 1 ? true : undefined),
        { timeoutMs: 120_000, intervalMs: 100 },
      );

      const postLatencies: number[] = [];
      const getLatencies: number[] = [];
      const ids: string[] = [];
      let running = true;
      const started = performance.now();
      const readers = Array.from({ length: READERS }, async () => {
        while (running) {
          const id = ids[Math.floor(Math.random() * ids.length)];
          if (!id) {
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
          const t0 = performance.now();
          const response = await fetch(`${base}/v1/operations/${id}`, { headers: { authorization } });
          await response.arrayBuffer();
          getLatencies.push(performance.now() - t0);
          expect(response.status).toBe(200);
        }
      });
      const publishers = Array.from({ length: PUBLISHERS }, async (_, p) => {
        for (let i = 0; i < OPERATIONS; i += 1) {
          const g = p * OPERATIONS + i;
          const start = (g * 37) % POOL;
          const members = Array.from({ length: MEMBERS_PER_OPERATION }, (_, k) => pool[(start + k) % POOL]!);
          const payload = {
            operationId: `load-op-${g}`,
            kind: 'sharing.set',
            enterpriseId: 'E-load',
            enabled: g % 2 === 0,
            memberIds: members,
          };
          postLatencies.push(await postOperation(payload));
          published.push({ operationId: payload.operationId, payload });
          ids.push(payload.operationId);
        }
      });
      await Promise.all(publishers);
      const publishedMs = performance.now() - started;
      try {
        await pollUntil(
          'every operation to finish',
          async () => ((await finalCount('load-op-')) === TOTAL ? true : undefined),
          { timeoutMs: TIMEOUT_MS, intervalMs: 250 },
        );
      } finally {
        running = false;
        await Promise.all(readers);
      }
      const doneMs = performance.now() - started;

      const { rows } = await sql<{ status: string; n: number }>`
      SELECT status, count(*)::int AS n FROM operations WHERE operation_id LIKE 'load-op-%' GROUP BY 1`.execute(db);
      expect(rows).toEqual([{ status: 'completed', n: TOTAL }]);
      const get = summary(getLatencies);
      const post = summary(postLatencies);
      // A sanity bound for a shared 2-core machine; the measured figures are in the README.
      expect(get.p99).toBeLessThan(10_000);
      const report = await expectLedgerConsistent(db, published);
      expect(service.running()).toBe(true);
      console.info(
        `[reliability] load ${PUBLISHERS}×${OPERATIONS} ops × ${MEMBERS_PER_OPERATION} members (pool ${POOL}): published in ` +
          `${(publishedMs / 1000).toFixed(1)} s (${Math.round(TOTAL / (publishedMs / 1000))} ops/s), all completed in ` +
          `${(doneMs / 1000).toFixed(1)} s (${Math.round((TOTAL * MEMBERS_PER_OPERATION) / (doneMs / 1000))} items/s); ` +
          `GET /v1/operations/:id ms ${JSON.stringify(get)}; POST ms ${JSON.stringify(post)}; ledger ${JSON.stringify(report)}`,
      );
    },
    TIMEOUT_MS + 120_000,
  );
});
