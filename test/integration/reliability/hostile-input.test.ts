import { Queue } from 'bullmq';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../support/harness.js';
import { brokenPayload, type HostileCase, malformedBody, randomPayload } from '../../support/hostile-payloads.js';
import { expectLedgerConsistent, type PublishedOperation } from '../../support/ledger-check.js';
import { pollUntil } from '../../support/processes.js';

// Fault: publishers send garbage — wrong types, missing fields, huge strings, bodies over the limit,
// bad amounts, SQL and script fragments in ids — over HTTP and straight onto the raw queue. Each
// gets a clear refusal naming the field (HTTP 400 / an operation recorded `rejected`), the service
// stays up, and nothing reaches the domain tables. Duplicate member ids in one batch are valid:
// applied once, repeats rejected `duplicate_item`.
const BODY_LIMIT = 256 * 1024;
const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
const tried: Record<string, number> = {};
let h: Harness;
let raw: Queue;
let counter = 0;
const published: PublishedOperation[] = [];
beforeAll(async () => {
  h = await startHarness('rel_hostile', { env: { HTTP_BODY_LIMIT_BYTES: String(BODY_LIMIT) } });
  raw = new Queue('benefits-operations', { connection: { url: h.config.redisUrl }, prefix: h.config.queuePrefix });
});
afterAll(async () => {
  await raw?.close();
  await h?.close();
});

const post = async (payload: string, contentType = 'application/json') => {
  const response = await h.service.app!.inject({
    method: 'POST',
    url: '/v1/operations',
    payload,
    headers: { 'content-type': contentType, authorization: `Bearer ${h.adminKey}` },
  });
  return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null };
};

/** Whether one of the issues names the field the case broke. */
function namesField(issues: Array<{ path: string; message: string }>, c: HostileCase): boolean {
  if (!Array.isArray(issues) || issues.length === 0) return false;
  if (c.field === '') return true;
  if (c.unknownKey) return issues.some((i) => i.path === c.field && /Unrecognized key/.test(i.message));
  return issues.some((i) => i.path === c.field || i.path.startsWith(`${c.field}.`));
}

// The domain tables, and the two a chunk writes to: none may see a row from an invalid payload.
const TABLES = [
  'members',
  'enterprises',
  'sharing_history',
  'coupons',
  'member_coupons',
  'coupon_history',
  'operation_chunks',
  'operation_rejections',
];
const NO_ROWS = Object.fromEntries(TABLES.map((table) => [table, 0]));

async function domainRows(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of TABLES) {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(h.service.db);
    counts[table] = rows[0]!.n;
  }
  return counts;
}

const count = (what: string) => (tried[what] = (tried[what] ?? 0) + 1);

describe('hostile input', () => {
  it('HTTP: every broken or random payload gets a 400 naming the field, and nothing is recorded', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ weight: 4, arbitrary: brokenPayload('http-op') }, { weight: 1, arbitrary: randomPayload }),
        async (c) => {
          count('http payloads');
          const response = await post(JSON.stringify(c.payload) ?? '');
          expect(response.status, c.note).toBe(400);
          if (c.field !== '' || response.body.error === 'invalid_payload') {
            expect(response.body.error, c.note).toBe('invalid_payload');
            expect(namesField(response.body.issues, c), `${c.note}: ${JSON.stringify(response.body.issues)}`).toBe(
              true,
            );
          }
        },
      ),
      { numRuns: 200, seed },
    );
    await fc.assert(
      fc.asyncProperty(malformedBody, async (body) => {
        count('http malformed bodies');
        const response = await post(body);
        expect(response.status, JSON.stringify(body)).toBe(400);
        expect(typeof response.body.message).toBe('string');
      }),
      { numRuns: 50, seed },
    );
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: BODY_LIMIT + 1, max: 2 * BODY_LIMIT }), fc.boolean(), async (size, json) => {
        count('http bodies over the limit');
        // Each id takes 19 bytes of JSON ("big-000000000001",), so the body is at least `size` bytes.
        const ids = Array.from({ length: Math.ceil(size / 16) }, (_, i) => `big-${String(i).padStart(12, '0')}`);
        const body = json
          ? JSON.stringify({ kind: 'sharing.set', enterpriseId: 'E-hostile', enabled: true, memberIds: ids })
          : 'x'.repeat(size);
        expect(Buffer.byteLength(body)).toBeGreaterThan(BODY_LIMIT);
        const response = await post(body);
        expect(response).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
      }),
      { numRuns: 10, seed },
    );
    expect((await h.request('GET', '/healthz')).status).toBe(200);
    expect(await domainRows()).toEqual(NO_ROWS);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM operations`.execute(h.service.db);
    expect(rows[0]!.n).toBe(0);
  }, 120_000);

  it('raw queue: every broken or random payload fails at once and is recorded rejected, naming the field', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ weight: 4, arbitrary: brokenPayload('raw-op') }, { weight: 1, arbitrary: randomPayload }),
        async (c) => {
          count('raw queue payloads');
          // A fresh operationId per run, unless the case broke that very field.
          const n = (counter += 1);
          const data =
            c.payload !== null &&
            typeof c.payload === 'object' &&
            !Array.isArray(c.payload) &&
            (c.payload as any).operationId === 'raw-op'
              ? { ...(c.payload as object), operationId: `raw-op-${n}` }
              : c.payload;
          const job = await raw.add('operation', data, { attempts: 3, backoff: { type: 'fixed', delay: 10 } });
          const operationId = (data as any)?.operationId === `raw-op-${n}` ? `raw-op-${n}` : `job-${job.id}`;
          const view = await h.waitForOperation(operationId, 20_000);
          expect(view, c.note).toMatchObject({ status: 'rejected', error: { code: 'invalid_payload' } });
          expect(
            namesField((view.error as any).issues, c),
            `${c.note}: ${JSON.stringify((view.error as any).issues)}`,
          ).toBe(true);
          // Failed at once: no retry of a payload that can never become valid.
          const failed = await pollUntil(
            'the job to fail',
            async () => ((await job.getState()) === 'failed' ? raw.getJob(job.id!) : undefined),
            { timeoutMs: 20_000, intervalMs: 20 },
          );
          expect(failed?.attemptsMade, c.note).toBe(1);
        },
      ),
      { numRuns: 100, seed, endOnFailure: true },
    );
    expect((await h.request('GET', '/healthz')).status).toBe(200);
    expect(await domainRows()).toEqual(NO_ROWS);
    const { rows } = await sql<{
      status: string;
      n: number;
    }>`SELECT status, count(*)::int AS n FROM operations GROUP BY 1`.execute(h.service.db);
    expect(rows).toEqual([{ status: 'rejected', n: tried['raw queue payloads'] }]);
  }, 180_000);

  it('duplicate ids in one batch: applied once, repeats rejected duplicate_item, over HTTP and the raw queue', async () => {
    const members = Array.from({ length: 300 }, (_, i) => `hd-${String(i).padStart(4, '0')}`);
    const setup = async (payload: Record<string, unknown>) => {
      const operationId = await h.publish(payload);
      published.push({ operationId, payload });
      await h.waitForOperation(operationId, 60_000);
    };
    await setup({ operationId: 'hd-assoc', kind: 'members.associate', enterpriseId: 'E-hostile', memberIds: members });
    const validFrom = new Date(Date.now() - 86_400_000).toISOString();
    const validUntil = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const coupon = (couponId: string) => ({
      couponId,
      faceValue: '100000.00',
      allocationMode: 'multiple',
      validFrom,
      validUntil,
      products: ['ecs'],
    });
    await setup({
      operationId: 'hd-issue',
      kind: 'coupons.issue',
      enterpriseId: 'E-hostile',
      coupons: [coupon('C-hd')],
    });

    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('sharing.set', 'coupons.allocate', 'members.associate', 'coupons.issue'),
        // Indices into a small pool, so repeats are many; batches up to 250 put repeats in other chunks.
        fc
          .integer({ min: 2, max: 250 })
          .chain((length) => fc.array(fc.nat(149), { minLength: length, maxLength: length })),
        fc.boolean(),
        fc.boolean(),
        async (kind, picks, enabled, viaQueue) => {
          count('duplicate batches');
          const n = (counter += 1);
          const batch = [...picks, picks[0]!]; // at least one repeat
          const operationId = `hd-${n}`;
          const base = { operationId, kind, enterpriseId: 'E-hostile' };
          // Every occurrence of a key carries the same values, so which one is applied does not matter.
          const payload: Record<string, unknown> =
            kind === 'sharing.set'
              ? { ...base, enabled, memberIds: batch.map((i) => members[i]) }
              : kind === 'coupons.allocate'
                ? {
                    ...base,
                    couponId: 'C-hd',
                    allocations: batch.map((i) => ({ memberId: members[i], amount: `${1 + (i % 5)}.${i % 100}` })),
                  }
                : kind === 'members.associate'
                  ? { ...base, memberIds: batch.map((i) => `hdn-${n}-${i}`) }
                  : { ...base, coupons: batch.map((i) => coupon(`C-hd-${n}-${i}`)) };
          if (viaQueue) await raw.add('operation', payload, { removeOnComplete: true });
          else expect((await post(JSON.stringify(payload))).status).toBe(202);
          published.push({ operationId, payload });
          const view = await h.waitForOperation(operationId, 60_000);
          const unique = new Set(batch).size;
          expect(view).toMatchObject({
            status: 'completed_with_rejections',
            counts: { rejected: batch.length - unique },
          });
          expect(view.rejectedByReason).toEqual({ duplicate_item: batch.length - unique });
          expect(view.counts.applied + view.counts.unchanged).toBe(unique);
        },
      ),
      { numRuns: 30, seed, endOnFailure: true },
    );
    expect((await h.request('GET', '/healthz')).status).toBe(200);
    const report = await expectLedgerConsistent(h.service.db, published);
    console.info(
      `[reliability] hostile input: tried ${JSON.stringify(tried)}; duplicates ledger ${JSON.stringify(report)}`,
    );
  }, 180_000);
});
