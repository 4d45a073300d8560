import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listGuardedRoutes } from '../../../src/http/api-auth.js';
import { type Harness, startHarness } from '../../support/harness.js';

// Fault: hostile requests sized to the body limit or aimed at the ids in paths and queries. Each
// costs bounded work and is answered 4xx, never 5xx, and the service stays up.
const BODY_LIMIT = 16 * 1024 * 1024; // the default
let h: Harness;
beforeAll(async () => {
  h = await startHarness('rel_bounded', { workers: false });
});
afterAll(async () => h?.close());

const send = async (method: 'GET' | 'POST', url: string, payload?: string, headers: Record<string, string> = {}) => {
  const response = await h.service.app!.inject({
    method,
    url,
    ...(payload !== undefined && { payload }),
    headers: {
      ...(payload !== undefined && { 'content-type': 'application/json' }),
      authorization: `Bearer ${h.adminKey}`,
      ...headers,
    },
  });
  return { status: response.statusCode, text: response.body, headers: response.headers };
};

/** A `members.associate` body exactly at the limit, its list made of `item` repeated. */
function bodyAtLimit(item: string): string {
  const head = '{"kind":"members.associate","enterpriseId":"E-hostile","memberIds":[';
  const count = Math.floor((BODY_LIMIT - head.length - 2 + 1) / (item.length + 1));
  const body = `${head}${new Array<string>(count).fill(item).join(',')}]}`;
  expect(body.length).toBeLessThanOrEqual(BODY_LIMIT);
  return body;
}

// Linux: writing 5 to clear_refs resets the peak resident set (VmHWM) of this process, so the peak
// read afterwards is the request's, event loop blocked or not.
const resetPeak = () => writeFileSync('/proc/self/clear_refs', '5');
const peakMiB = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

describe('a body at the limit full of bad items', () => {
  it.each([
    ['empty member ids', '""'],
    ['numbers', '0'],
    ['objects', '{}'],
  ])(
    '(%s) is refused with the first 100 problems, in bounded memory',
    async (_name, item) => {
      const body = bodyAtLimit(item);
      const items = (body.length - 70) / (item.length + 1);
      const rssBefore = process.memoryUsage().rss / 2 ** 20;
      resetPeak();
      const started = performance.now();
      const answer = await send('POST', '/v1/operations', body);
      const seconds = (performance.now() - started) / 1000;
      const growth = peakMiB() - rssBefore;
      console.log(
        `${Math.round(items).toLocaleString()} ${item} items, ${body.length} bytes: ${answer.status} in ${seconds.toFixed(1)} s, peak RSS +${growth.toFixed(0)} MiB, answer ${answer.text.length} bytes`,
      );
      expect(answer.status).toBe(400);
      const parsed = JSON.parse(answer.text) as { error: string; issues: unknown[]; issueCount: number };
      expect(parsed.error).toBe('invalid_payload');
      expect(parsed.issues).toHaveLength(100);
      expect(parsed.issueCount).toBeGreaterThanOrEqual(100);
      expect(answer.text.length).toBeLessThan(32 * 1024);
      // The body itself, its parsed list (8 bytes a slot, more for objects) and one slice of issues;
      // before the cap, the empty ids grew the process past 4 GB and killed it.
      expect(growth).toBeLessThan(item === '{}' ? 600 : 300);
      expect((await send('GET', '/healthz')).status).toBe(200);
    },
    120_000,
  );
});

describe('ids in paths and queries', () => {
  it('answers 400 for a NUL or any id outside the contract pattern, on every route', async () => {
    for (const route of listGuardedRoutes(h.service.app!)) {
      if (!route.url.includes(':') || route.method === 'HEAD') continue;
      for (const bad of ['a%00b', '%00', '-x', 'a%2Fb', 'a%20b']) {
        const url = route.url.replace(/:(\w+)/g, bad);
        const answer = await send(route.method as 'GET' | 'POST', url);
        expect(answer.status, `${route.method} ${url}`).toBe(400);
      }
      // The longest id the contract allows is found (or not); one longer is refused before routing.
      const longest = await send(route.method as 'GET' | 'POST', route.url.replace(/:(\w+)/g, 'x'.repeat(128)));
      expect(longest.status, `${route.url} with a 128-character id`).not.toBe(400);
      expect(longest.status).toBeLessThan(500);
      const tooLong = await send(route.method as 'GET' | 'POST', route.url.replace(/:(\w+)/g, 'x'.repeat(129)));
      expect(tooLong.status).toBe(414);
    }
  });

  it.each([
    '/v1/coupons/CPN-1/history?memberId=%00',
    '/v1/coupons/CPN-1/history?memberId=a%00',
    '/v1/enterprises/E1/coupons?cursor=a%00',
    '/v1/enterprises/E1/packages?cursor=%00',
    '/v1/operations/op-1/arrears-risk?cursor=a%00b',
    '/v1/enterprises/E1/members/m1/benefits?product=%00',
    '/v1/operations/op-1/rejections?cursor=2147483648',
    '/v1/operations/op-1/rejections?cursor=-1',
    '/v1/enterprises/E1/coupon-history?cursor=9007199254740992',
    '/v1/enterprises/E1/coupon-history?cursor=1e3',
  ])('answers 400 for %s', async (url) => {
    expect((await send('GET', url)).status).toBe(400);
  });

  it('answers 4xx, never 5xx, to any string as an id or a query value (property)', async () => {
    const routes = listGuardedRoutes(h.service.app!).filter((r) => r.method === 'GET');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.constantFrom('cursor', 'memberId', 'product'),
        async (route, value, query) => {
          const id = encodeURIComponent(value) || 'x';
          const url = `${route.url.replace(/:(\w+)/g, id)}?${query}=${encodeURIComponent(value)}`;
          const answer = await send('GET', url);
          expect(answer.status, url).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('bodies', () => {
  const valid = JSON.stringify({ kind: 'sharing.set-default', enterpriseId: 'E-enc', shareWithNewMembers: true });

  it('refuses an encoding it does not decode with 415, gzip or not', async () => {
    for (const [encoding, payload] of [
      ['gzip', valid],
      ['gzip', gzipSync(valid).toString('latin1')],
      ['br', valid],
      ['deflate, gzip', valid],
    ] as const) {
      const answer = await send('POST', '/v1/operations', payload, { 'content-encoding': encoding });
      expect(answer.status, encoding).toBe(415);
    }
    expect((await send('POST', '/v1/operations', valid, { 'content-encoding': 'identity' })).status).toBe(202);
  });

  it.each([
    ['deeply nested arrays', `${'['.repeat(100_000)}${']'.repeat(100_000)}`],
    ['deeply nested objects', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`],
    [
      'an enterprise id of 10 MiB',
      JSON.stringify({ kind: 'members.associate', enterpriseId: 'E'.repeat(10 * 2 ** 20), memberIds: ['m'] }),
    ],
    ['a prototype key', '{"kind":"members.associate","enterpriseId":"E","memberIds":["m"],"__proto__":{"x":1}}'],
    ['a lone surrogate', '{"kind":"members.associate","enterpriseId":"E\\ud800","memberIds":["m"]}'],
    ['nothing', ''],
    ['null', 'null'],
  ])('answers 4xx to %s', async (_name, payload) => {
    const answer = await send('POST', '/v1/operations', payload);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
  });
});
