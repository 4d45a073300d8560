import { describe, expect, it } from 'vitest';
import { bearerKey, generateKey, hashKey, isScope } from '../../src/auth/api-key.js';
import { hasScope, mayActFor, type Principal, UNRESTRICTED } from '../../src/auth/principal.js';
import { loadConfig } from '../../src/config.js';

describe('keys', () => {
  it('are 32 random bytes behind a prefix, with an id apart from them', () => {
    const a = generateKey();
    const b = generateKey();
    expect(a.key).toMatch(/^bk_live_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.key.slice(8), 'base64url')).toHaveLength(32);
    expect(a.key).not.toBe(b.key);
    expect(a.id).toMatch(/^key_[0-9a-f]{16}$/);
    expect(a.key).not.toContain(a.id.slice(4));
    expect(hashKey(a.key)).toHaveLength(32);
    expect(hashKey(a.key).equals(hashKey(a.key))).toBe(true);
  });

  it('are read from a Bearer header only when they have a key shape', () => {
    const { key } = generateKey();
    expect(bearerKey(`Bearer ${key}`)).toBe(key);
    expect(bearerKey(`bearer  ${key} `)).toBe(key);
    for (const header of [
      undefined,
      '',
      'Bearer',
      `Basic ${key}`,
      `Bearer ${key}x`,
      `Bearer ${key} extra`,
      `Bearer bk_test_${key.slice(8)}`,
    ]) {
      expect(bearerKey(header)).toBeNull();
    }
  });
});

describe('scopes and enterprises', () => {
  const bound: Principal = { keyId: 'key_1', scopes: new Set(['read']), enterprises: new Set(['E1']) };

  it('admin holds every scope; others only their own', () => {
    expect(hasScope(bound, 'read')).toBe(true);
    expect(hasScope(bound, 'operations:write')).toBe(false);
    expect(hasScope({ ...bound, scopes: new Set(['admin']) }, 'operations:control')).toBe(true);
    expect(hasScope(UNRESTRICTED, 'operations:write')).toBe(true);
    expect(isScope('read')).toBe(true);
    expect(isScope('everything')).toBe(false);
  });

  it('a bound key acts only for its enterprises, and never on a thing without one', () => {
    expect(mayActFor(bound, 'E1')).toBe(true);
    expect(mayActFor(bound, 'E2')).toBe(false);
    expect(mayActFor(bound, null)).toBe(false);
    expect(mayActFor(UNRESTRICTED, null)).toBe(true);
    expect(mayActFor(UNRESTRICTED, 'E2')).toBe(true);
  });
});

describe('configuration', () => {
  it('turns authentication on by default and reads its settings', () => {
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ apiAuth: true, runtimeMode: 'configured', metricsToken: null, dataDir: '.data' });
    expect(defaults.rateLimitPerMinute).toBeGreaterThan(0);
    expect(loadConfig({ API_AUTH: 'off', METRICS_TOKEN: 't', RATE_LIMIT_PER_MINUTE: '5' })).toMatchObject({
      apiAuth: false,
      metricsToken: 't',
      rateLimitPerMinute: 5,
    });
    expect(loadConfig({ METRICS_TOKEN: '' }).metricsToken).toBeNull();
    expect(() => loadConfig({ API_AUTH: 'maybe' })).toThrow(/API_AUTH/);
  });
});
