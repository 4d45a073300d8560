import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('http', { env: { HTTP_BODY_LIMIT_BYTES: String(64 * 1024) } });
});
afterAll(async () => h?.close());

describe('POST /v1/operations validation', () => {
  it.each([
    [{ kind: 'sharing.set', enterpriseId: 'E', memberIds: ['a'] }, 'enabled'],
    [{ kind: 'sharing.set', enterpriseId: 'E', enabled: 'yes', memberIds: ['a'] }, 'enabled'],
    [{ kind: 'sharing.set', enterpriseId: 'E', enabled: true, memberIds: [] }, 'memberIds'],
    [
      { kind: 'sharing.set', enterpriseId: 'E', enabled: true, memberIds: ['ok', "x'; DROP TABLE members;--"] },
      'memberIds.1',
    ],
    [{ kind: 'members.associate', enterpriseId: '<script>', memberIds: ['a'] }, 'enterpriseId'],
    [{ kind: 'sharing.set-default', enterpriseId: 'E', shareWithNewMembers: 1 }, 'shareWithNewMembers'],
    [{ kind: 'members.explode', enterpriseId: 'E' }, 'kind'],
    [{ kind: 'sharing.set', enterpriseId: 'E', enabled: true, memberIds: ['a'], extra: 1 }, ''],
    [
      { operationId: 'has:colon', kind: 'sharing.set', enterpriseId: 'E', enabled: true, memberIds: ['a'] },
      'operationId',
    ],
  ])('refuses %j naming %s', async (body, path) => {
    const response = await h.request('POST', '/v1/operations', body);
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('invalid_payload');
    expect(response.body.issues.map((i: { path: string }) => i.path)).toContain(path);
  });

  it('refuses a body that is not JSON or over the limit, and stays up', async () => {
    const notJson = await h.service.app!.inject({
      method: 'POST',
      url: '/v1/operations',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${h.adminKey}` },
      payload: '{"kind":',
    });
    expect(notJson.statusCode).toBe(400);
    const huge = await h.request('POST', '/v1/operations', {
      kind: 'sharing.set',
      enterpriseId: 'E',
      enabled: true,
      memberIds: memberIds('huge', 5000),
    });
    expect(huge.status).toBe(413);
    expect(huge.body.error).toBe('payload_too_large');
    expect((await h.request('GET', '/healthz')).status).toBe(200);
  });

  it('writes nothing for a refused payload', async () => {
    const count = await h.service.db
      .selectFrom('operations')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });
});

describe('read endpoints', () => {
  it('answers 404 for what does not exist and 400 for a bad cursor', async () => {
    expect((await h.request('GET', '/v1/operations/nope')).status).toBe(404);
    expect((await h.request('GET', '/v1/operations/nope/rejections')).status).toBe(404);
    expect((await h.request('GET', '/v1/enterprises/nope')).status).toBe(404);
    expect((await h.request('GET', '/v1/enterprises/nope/members/m')).status).toBe(404);
    expect((await h.request('GET', '/v1/enterprises/nope/members/m/sharing-history?cursor=abc')).status).toBe(400);
  });

  it('pages rejections and history with cursors', async () => {
    const strangers = memberIds('stranger', 150);
    const operationId = await h.publish({
      kind: 'sharing.set',
      enterpriseId: 'E-page',
      enabled: true,
      memberIds: strangers,
    });
    const view = await h.waitForOperation(operationId);
    expect(view).toMatchObject({
      status: 'completed_with_rejections',
      counts: { rejected: 150 },
      rejectedByReason: { not_a_member: 150 },
    });
    const page1 = await h.request('GET', `/v1/operations/${operationId}/rejections`);
    expect(page1.body.items).toHaveLength(100);
    expect(page1.body.nextCursor).toBe('99');
    const page2 = await h.request('GET', `/v1/operations/${operationId}/rejections?cursor=${page1.body.nextCursor}`);
    expect(page2.body.items).toHaveLength(50);
    expect(page2.body.items[0]).toEqual({ position: 100, memberId: strangers[100], reason: 'not_a_member' });
    expect(page2.body.nextCursor).toBeNull();
  });

  it('reports readiness of Postgres and Redis', async () => {
    const ready = await h.request('GET', '/readyz');
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready', checks: { postgres: 'ok', redis: 'ok' } } });
  });
});
