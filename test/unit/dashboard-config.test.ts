import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { credentialsMatch } from '../../src/http/basic-auth.js';
import { atLeast } from '../../src/http/log-level.js';

const basic = (userAndPassword: string) => `Basic ${Buffer.from(userAndPassword).toString('base64')}`;

describe('dashboard configuration', () => {
  it('is read-only and open by default', () => {
    expect(loadConfig({})).toMatchObject({ dashboardReadOnly: true, dashboardCredentials: null });
  });

  it('takes credentials only as a pair, and an empty value as unset', () => {
    expect(loadConfig({ DASHBOARD_USER: 'ops', DASHBOARD_PASSWORD: 'pw', DASHBOARD_READ_ONLY: 'false' })).toMatchObject(
      {
        dashboardReadOnly: false,
        dashboardCredentials: { user: 'ops', password: 'pw' },
      },
    );
    expect(loadConfig({ DASHBOARD_USER: '', DASHBOARD_PASSWORD: '' }).dashboardCredentials).toBeNull();
    expect(() => loadConfig({ DASHBOARD_USER: 'ops' })).toThrow(ConfigError);
    expect(() => loadConfig({ DASHBOARD_USER: 'ops' })).toThrow(/DASHBOARD_PASSWORD/);
    expect(() => loadConfig({ DASHBOARD_READ_ONLY: 'yes' })).toThrow(/DASHBOARD_READ_ONLY/);
  });
});

describe('basic auth credentials', () => {
  const expected = { user: 'ops', password: 'p:ss wörd' };

  it('accepts exactly the configured pair (a password may contain a colon)', () => {
    expect(credentialsMatch(expected, basic('ops:p:ss wörd'))).toBe(true);
    expect(credentialsMatch(expected, `basic  ${Buffer.from('ops:p:ss wörd').toString('base64')}`)).toBe(true);
  });

  it.each([
    [undefined],
    [''],
    ['Bearer abc'],
    [basic('ops:wrong')],
    [basic('OPS:p:ss wörd')],
    [basic('ops')],
    [basic(':')],
    ['Basic !!!'],
  ])('refuses %j', (header) => {
    expect(credentialsMatch(expected, header)).toBe(false);
  });
});

describe('log level for polled routes', () => {
  it('raises chatty levels to warn and never lowers a quieter one', () => {
    expect(atLeast('info', 'warn')).toBe('warn');
    expect(atLeast('debug', 'warn')).toBe('warn');
    expect(atLeast('error', 'warn')).toBe('error');
    expect(atLeast('silent', 'warn')).toBe('silent');
  });
});
