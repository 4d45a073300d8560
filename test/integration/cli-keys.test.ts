import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('cli_keys', { workers: false });
});
afterAll(async () => h?.close());

const bin = new URL('../../bin/benefits.mjs', import.meta.url).pathname;

/** Runs the real `benefits` command against this file's database. */
function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, DATABASE_URL: h.config.databaseUrl, REDIS_URL: h.config.redisUrl }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const get = (url: string, key: string) =>
  h.service.app!.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });

describe('benefits keys', () => {
  it('creates a key shown once, lists keys without it, and revokes it for the running API', async () => {
    const created = await cli('keys', 'create', '--name', 'billing', '--scope', 'read', '--enterprise', 'E-billing');
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^bk_live_[A-Za-z0-9_-]{43}$/);
    const id = /created (key_[0-9a-f]+)/.exec(created.stderr)?.[1];
    expect(id).toBeDefined();

    // Bound to its enterprise and its scope.
    expect((await get('/v1/enterprises/E-billing/coupons', key)).statusCode).toBe(200);
    expect((await get('/v1/enterprises/E-other/coupons', key)).statusCode).toBe(404);
    const publish = await h.service.app!.inject({
      method: 'POST',
      url: '/v1/operations',
      payload: { kind: 'sharing.set-default', enterpriseId: 'E-billing', shareWithNewMembers: true },
      headers: { authorization: `Bearer ${key}` },
    });
    expect(publish.statusCode).toBe(403);

    const listed = await cli('keys', 'list');
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(key);
    expect(listed.stdout).not.toContain(key.slice(8));
    expect(listed.stdout).toMatch(new RegExp(`^${id}\\tbilling\\tread\\tE-billing\\t\\S+\\t\\S+\\tactive$`, 'm'));
    const json = await cli('keys', 'list', '--json');
    const row = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((r) => r.id === id);
    expect(row).toMatchObject({ name: 'billing', scopes: ['read'], enterprises: ['E-billing'], revoked_at: null });
    expect(Object.keys(row!)).not.toContain('key_hash');
    expect(row!.last_used_at).not.toBeNull();

    const revoked = await cli('keys', 'revoke', id!);
    expect(revoked.code).toBe(0);
    expect((await get('/v1/enterprises/E-billing/coupons', key)).statusCode).toBe(401);
    expect((await cli('keys', 'list')).stdout).toMatch(new RegExp(`^${id}\\t.*\\trevoked \\S+$`, 'm'));
    expect((await cli('keys', 'revoke', 'key_nope')).code).toBe(1);
  }, 240_000);

  it('refuses an unknown scope or a bad enterprise id before touching the database', async () => {
    const scope = await cli('keys', 'create', '--name', 'x', '--scope', 'everything');
    expect(scope.code).not.toBe(0);
    expect(scope.stderr).toMatch(/everything/);
    const enterprise = await cli('keys', 'create', '--name', 'x', '--scope', 'read', '--enterprise', 'a/b');
    expect(enterprise.code).not.toBe(0);
    const missing = await cli('keys', 'create', '--name', 'x');
    expect(missing.code).not.toBe(0);
  }, 180_000);
});
