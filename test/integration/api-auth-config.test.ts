import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { hashKey } from '../../src/auth/api-key.js';
import { createKey, revokeKey } from '../../src/auth/api-keys.sql.js';
import { createLogger } from '../../src/logger.js';
import { type Harness, startHarness } from '../support/harness.js';

/** A logger writing JSON lines into an array, as pino writes them to stdout. */
function capturedLogger(level = 'trace') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const inject = (method: 'GET' | 'POST', url: string, authorization?: string, payload?: unknown) =>
  h!.service.app!.inject({
    method,
    url,
    ...(payload !== undefined && { payload: payload as never }),
    headers: authorization ? { authorization } : {},
  });

describe('logs', () => {
  it('never hold a key or its digest, whatever the request', async () => {
    const { logger, lines } = capturedLogger();
    h = await startHarness('auth_logs', { workers: false, logger });
    const live = await createKey(h.service.db, { name: 'live', scopes: ['admin'], enterprises: [] });
    const revoked = await createKey(h.service.db, { name: 'revoked', scopes: ['admin'], enterprises: [] });
    await revokeKey(h.service.db, revoked.id);
    for (const key of [live.key, revoked.key, h.adminKey]) {
      const authorization = `Bearer ${key}`;
      await inject('GET', '/v1/enterprises/E1', authorization);
      await inject('POST', '/v1/operations', authorization, { kind: 'nope' });
      await inject('GET', '/v1/operations/a%00b', authorization);
      await inject('GET', '/v1/nothing', authorization);
    }
    // Whatever a caller logs with the request's headers is censored too.
    logger.info({ req: { headers: { authorization: `Bearer ${live.key}` } } }, 'a line with headers');
    logger.info({ headers: { authorization: `Bearer ${live.key}` } }, 'another');
    await new Promise((resolve) => setImmediate(resolve));
    const text = lines.join('\n');
    expect(lines.length).toBeGreaterThan(10);
    expect(text).toContain('refused request without a valid API key');
    for (const key of [live.key, revoked.key, h.adminKey]) {
      for (const secret of [key, key.slice(8), hashKey(key).toString('hex'), hashKey(key).toString('base64')]) {
        expect(text).not.toContain(secret);
      }
    }
    expect(text).toContain('[redacted]');
  });
});

describe('rate limits', () => {
  it('answer 429 with Retry-After past the limit, per key', async () => {
    h = await startHarness('auth_rate', { workers: false, env: { RATE_LIMIT_PER_MINUTE: '3' } });
    const other = await createKey(h.service.db, { name: 'other', scopes: ['read'], enterprises: [] });
    const statuses = [];
    for (let i = 0; i < 4; i += 1)
      statuses.push((await inject('GET', '/v1/enterprises/E1', `Bearer ${h.adminKey}`)).statusCode);
    expect(statuses).toEqual([404, 404, 404, 429]);
    const limited = await inject('GET', '/v1/enterprises/E1', `Bearer ${h.adminKey}`);
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json()).toMatchObject({ error: 'rate_limited' });
    // Another key has its own budget; health checks have none.
    expect((await inject('GET', '/v1/enterprises/E1', `Bearer ${other.key}`)).statusCode).toBe(404);
    for (let i = 0; i < 5; i += 1) expect((await inject('GET', '/healthz')).statusCode).toBe(200);
  });
});

describe('API_AUTH=off', () => {
  it('takes requests without a key, records no publisher, and warns at start', async () => {
    const { logger, lines } = capturedLogger('info');
    h = await startHarness('auth_off', { workers: false, env: { API_AUTH: 'off' }, logger });
    const published = await inject('POST', '/v1/operations', undefined, {
      kind: 'sharing.set-default',
      enterpriseId: 'E-off',
      shareWithNewMembers: true,
    });
    expect(published.statusCode).toBe(202);
    const view = await inject('GET', `/v1/operations/${published.json().operationId}`);
    expect(view.json()).toMatchObject({ publishedBy: null });
    expect(lines.some((l) => l.includes('"level":40') && l.includes('API_AUTH=off'))).toBe(true);
  });
});

describe('a configured deployment without a key', () => {
  it('answers 401 and says at start how to make one', async () => {
    const { logger, lines } = capturedLogger('info');
    h = await startHarness('auth_nokey', { workers: false, logger });
    // The harness made its own key after the start: the line was written before it.
    expect(lines.some((l) => l.includes('no API key exists') && l.includes('benefits keys create'))).toBe(true);
    expect((await inject('GET', '/v1/enterprises/E1')).statusCode).toBe(401);
  });
});

describe('METRICS_TOKEN', () => {
  it('puts /metrics behind a bearer token', async () => {
    h = await startHarness('auth_metrics', { workers: false, env: { METRICS_TOKEN: 'scrape-me' } });
    expect((await inject('GET', '/metrics')).statusCode).toBe(401);
    expect((await inject('GET', '/metrics', 'Bearer wrong')).statusCode).toBe(401);
    expect((await inject('GET', '/metrics', `Bearer ${h.adminKey}`)).statusCode).toBe(401);
    const scraped = await inject('GET', '/metrics', 'Bearer scrape-me');
    expect(scraped.statusCode).toBe(200);
    expect(scraped.body).toContain('benefits_queue_jobs');
  });
});
