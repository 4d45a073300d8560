import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, type Scope, SCOPES } from '../../src/auth/api-key.js';
import { createKey, revokeKey } from '../../src/auth/api-keys.sql.js';
import { type GuardedRoute, listGuardedRoutes } from '../../src/http/api-auth.js';
import { type Harness, startHarness } from '../support/harness.js';

// Every /v1 route, found from what the app registered, asked with every kind of wrong key.
let h: Harness;
let opA: string;
const keys: Record<string, string> = {};

const coupon = {
  couponId: 'CPN-auth-A',
  faceValue: '100.00',
  allocationMode: 'multiple',
  validFrom: '2026-01-01T00:00:00Z',
  validUntil: '2099-01-01T00:00:00Z',
  products: ['ecs'],
};
const pkg = {
  packageId: 'PKG-auth-A',
  owner: 'master',
  product: 'ecs',
  unit: 'h',
  quantity: '10',
  validFrom: '2026-01-01T00:00:00Z',
  validUntil: '2099-01-01T00:00:00Z',
};

beforeAll(async () => {
  h = await startHarness('api_auth');
  opA = await h.publish({ kind: 'members.associate', enterpriseId: 'E-A', memberIds: ['m-a'] });
  const issued = [
    await h.publish({ kind: 'coupons.issue', enterpriseId: 'E-A', coupons: [coupon] }),
    await h.publish({ kind: 'packages.issue', enterpriseId: 'E-A', packages: [pkg] }),
  ];
  for (const id of [opA, ...issued]) await h.waitForOperation(id);
  const make = async (name: string, scopes: Scope[], enterprises: string[] = []) =>
    (keys[name] = (await createKey(h.service.db, { name, scopes, enterprises })).key);
  await make('admin', ['admin']);
  await make('everythingOfA', ['operations:write', 'operations:control', 'read'], ['E-A']);
  await make('everythingOfB', ['operations:write', 'operations:control', 'read'], ['E-B']);
  for (const scope of SCOPES.filter((s) => s !== 'admin')) await make(`only:${scope}`, [scope], ['E-A']);
  const revoked = await createKey(h.service.db, { name: 'revoked', scopes: ['admin'], enterprises: [] });
  await revokeKey(h.service.db, revoked.id);
  keys.revoked = revoked.key;
  keys.unknown = generateKey().key;
}, 60_000);
afterAll(async () => h?.close());

const PARAMS: Record<string, string> = {
  enterpriseId: 'E-A',
  memberId: 'm-a',
  couponId: coupon.couponId,
  packageId: pkg.packageId,
};
const urlOf = (route: GuardedRoute) =>
  route.url.replace(/:(\w+)/g, (_, name: string) => (name === 'operationId' ? opA : (PARAMS[name] ?? name)));
const bodyOf = (route: GuardedRoute) =>
  route.method === 'POST' && route.url === '/v1/operations'
    ? { kind: 'sharing.set-default', enterpriseId: 'E-A', shareWithNewMembers: false }
    : undefined;

async function call(route: GuardedRoute, authorization: string | undefined, url = urlOf(route)) {
  const response = await h.service.app!.inject({
    // Every guarded route is GET or POST: inject's older method list lacks WebDAV's, not these.
    method: route.method as 'GET' | 'POST',
    url,
    ...(bodyOf(route) && { payload: bodyOf(route) }),
    headers: authorization === undefined ? {} : { authorization },
  });
  return {
    status: response.statusCode,
    body: route.method === 'HEAD' || !response.body ? null : response.json(),
    challenge: response.headers['www-authenticate'],
  };
}
const bearer = (name: string) => `Bearer ${keys[name]}`;
const routes = () => listGuardedRoutes(h.service.app!);

describe('the route list', () => {
  it('holds every /v1 route of the app, each with a scope', () => {
    const listed = routes().map((r) => `${r.method} ${r.url}`);
    expect(listed).toContain('POST /v1/operations');
    expect(listed).toContain('GET /v1/enterprises/:enterpriseId/members/:memberId/benefits');
    expect(listed.length).toBeGreaterThanOrEqual(20);
  });
});

describe('every /v1 route', () => {
  it('answers 401 with a Bearer challenge without a key, with a malformed, unknown or revoked one', async () => {
    for (const route of routes()) {
      for (const authorization of [
        undefined,
        'Bearer',
        'Basic YTpi',
        `Bearer ${keys.admin}x`,
        `Bearer ${keys.unknown}`,
        bearer('revoked'),
      ]) {
        const answer = await call(route, authorization);
        expect(answer.status, `${route.method} ${route.url} with ${authorization}`).toBe(401);
        expect(answer.challenge).toMatch(/^Bearer /);
        if (answer.body) expect(answer.body).toEqual({ error: 'unauthorized' });
      }
    }
  });

  it('answers 403 naming the scope to a key of the enterprise without it', async () => {
    for (const route of routes()) {
      for (const scope of SCOPES.filter((s) => s !== 'admin' && s !== route.scope)) {
        const answer = await call(route, bearer(`only:${scope}`));
        expect(answer.status, `${route.method} ${route.url} with ${scope}`).toBe(403);
        if (answer.body) expect(answer.body).toEqual({ error: 'forbidden', scope: route.scope });
      }
    }
  });

  it("answers another enterprise's key 404, exactly as for something that does not exist", async () => {
    for (const route of routes()) {
      const answer = await call(route, bearer('everythingOfB'));
      expect(answer.status, `${route.method} ${route.url}`).toBe(404);
      if (answer.body) expect(answer.body).toEqual({ error: 'not_found' });
      if (route.url.includes(':') && route.method !== 'HEAD') {
        const missing = route.url.replace(/:(\w+)/g, 'nothing-here');
        const absent = await call(route, bearer('everythingOfB'), missing);
        expect(absent, `${route.method} ${route.url}: the same as for ${missing}`).toEqual(answer);
      }
    }
  });

  it('answers the right key, bound to the enterprise or not', async () => {
    for (const route of routes()) {
      for (const name of ['admin', 'everythingOfA', `only:${route.scope}`]) {
        const answer = await call(route, bearer(name));
        // Cancelling or retrying a finished operation is a conflict, not a refusal.
        const expected =
          route.url.endsWith('/cancel') || route.url.endsWith('/retry') ? 409 : route.method === 'POST' ? 202 : 200;
        expect(answer.status, `${route.method} ${route.url} with ${name}: ${JSON.stringify(answer.body)}`).toBe(
          expected,
        );
      }
    }
  });

  it('never answers 2xx to a key without the scope and the enterprise (property)', async () => {
    const keyNames = ['none', 'garbage', 'unknown', 'revoked', 'admin', 'everythingOfA', 'everythingOfB'].concat(
      SCOPES.filter((s) => s !== 'admin').map((s) => `only:${s}`),
    );
    const rightKey = (name: string, route: GuardedRoute) =>
      name === 'admin' || name === 'everythingOfA' || name === `only:${route.scope}`;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes()),
        fc.constantFrom(...keyNames),
        fc.string({ minLength: 1, maxLength: 60 }),
        async (route, name, garbage) => {
          const authorization =
            name === 'none' ? undefined : name === 'garbage' ? `Bearer bk_live_${garbage}` : bearer(name);
          const { status } = await call(route, authorization);
          if (!rightKey(name, route)) expect([401, 403, 404]).toContain(status);
          else expect(status).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('an unknown /v1 path', () => {
  it('answers 401 without a key, so a stranger learns nothing of what exists', async () => {
    expect((await h.service.app!.inject({ method: 'GET', url: '/v1/nothing' })).statusCode).toBe(401);
    const known = await h.service.app!.inject({
      method: 'GET',
      url: '/v1/nothing',
      headers: { authorization: bearer('admin') },
    });
    expect(known.statusCode).toBe(404);
  });
});

describe('revocation', () => {
  it('is refused from the next request on', async () => {
    const key = await createKey(h.service.db, { name: 'short-lived', scopes: ['read'], enterprises: [] });
    const get = () =>
      h.service.app!.inject({
        method: 'GET',
        url: '/v1/enterprises/E-A',
        headers: { authorization: `Bearer ${key.key}` },
      });
    expect((await get()).statusCode).toBe(200);
    await revokeKey(h.service.db, key.id);
    expect((await get()).statusCode).toBe(401);
  });

  it('costs the same time as an unknown key', async () => {
    const time = async (authorization: string) => {
      const started = process.hrtime.bigint();
      await h.service.app!.inject({ method: 'GET', url: '/v1/enterprises/E-A', headers: { authorization } });
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const revoked: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 300; i += 1) {
      revoked.push(await time(bearer('revoked')));
      unknown.push(await time(`Bearer ${generateKey().key}`));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    // Both are one index lookup by digest; on a shared machine their medians stay within a millisecond.
    expect(Math.abs(median(revoked) - median(unknown))).toBeLessThan(1);
  });
});

describe("another enterprise's things", () => {
  it('take as long to refuse as missing ones', async () => {
    const time = async (url: string) => {
      const started = process.hrtime.bigint();
      await h.service.app!.inject({ method: 'GET', url, headers: { authorization: bearer('everythingOfB') } });
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const [existing, missing] of [
      [`/v1/operations/${opA}`, '/v1/operations/no-such-operation'],
      [`/v1/coupons/${coupon.couponId}`, '/v1/coupons/no-such-coupon'],
      [`/v1/packages/${pkg.packageId}/consumption`, '/v1/packages/no-such-package/consumption'],
    ] as const) {
      const there: number[] = [];
      const absent: number[] = [];
      for (let i = 0; i < 150; i += 1) {
        there.push(await time(existing));
        absent.push(await time(missing));
      }
      expect(Math.abs(median(there) - median(absent)), existing).toBeLessThan(1);
    }
  });
});

describe('audit', () => {
  it('records the key that published, cancelled and shows it in the status and history rows', async () => {
    const key = await createKey(h.service.db, {
      name: 'publisher',
      scopes: ['operations:write', 'operations:control', 'read'],
      enterprises: ['E-A'],
    });
    const as = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
      h.service.app!.inject({
        method,
        url,
        ...(payload !== undefined && { payload: payload as never }),
        headers: { authorization: `Bearer ${key.key}` },
      });
    const published = await as('POST', '/v1/operations', {
      kind: 'coupons.allocate',
      enterpriseId: 'E-A',
      couponId: coupon.couponId,
      allocations: [{ memberId: 'm-a', amount: '1.00' }],
    });
    expect(published.statusCode).toBe(202);
    const { operationId } = published.json();
    await h.waitForOperation(operationId);
    expect((await as('GET', `/v1/operations/${operationId}`)).json()).toMatchObject({
      publishedBy: key.id,
      cancelledBy: null,
    });
    const history = (await as('GET', `/v1/coupons/${coupon.couponId}/history`)).json();
    expect(history.items.find((row: { operationId: string }) => row.operationId === operationId)).toMatchObject({
      publishedBy: key.id,
    });
    // Published with the harness's own key: another key id.
    expect((await as('GET', `/v1/operations/${opA}`)).json().publishedBy).toMatch(/^key_/);

    // No workers take it while it waits behind a paused queue: it is still there to cancel.
    await h.service.queues.chunks.pause();
    try {
      const waiting = await as('POST', '/v1/operations', {
        kind: 'members.associate',
        enterpriseId: 'E-A',
        memberIds: ['m-cancel'],
      });
      const id = waiting.json().operationId as string;
      const cancelled = await as('POST', `/v1/operations/${id}/cancel`);
      expect(cancelled.statusCode).toBe(200);
      expect(cancelled.json()).toMatchObject({ status: 'cancelled', publishedBy: key.id, cancelledBy: key.id });
    } finally {
      await h.service.queues.chunks.resume();
    }
  });
});
