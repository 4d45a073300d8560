import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../src/contract/index.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { type HeldRowLock, holdMemberLock } from '../support/row-lock.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// On a developer's machine without Chromium the browser test is skipped with a warning; in CI
// (.ci/run installs it) a missing browser fails the test instead of passing it unseen.
const haveChromium = existsSync(CHROMIUM) || process.env.CI === 'true';
if (!haveChromium) {
  console.warn(
    `dashboard.test.ts: SKIPPING the browser test: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`,
  );
}
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const credentials = { user: 'operator', password: 'correct horse battery staple' };
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

// Read-only (the default) behind basic auth; no workers, so published chunks wait in their queue.
let h: Harness;
beforeAll(async () => {
  h = await startHarness('dashboard', {
    workers: false,
    // The browsers' connections to the board may outlive them: closing waits 5 s for them at most.
    env: { DASHBOARD_USER: credentials.user, DASHBOARD_PASSWORD: credentials.password, SHUTDOWN_GRACE_MS: '5000' },
  });
  await h.publish({
    operationId: 'dash-op',
    kind: 'members.associate',
    enterpriseId: 'E-dash',
    memberIds: memberIds('dash', 150),
  });
});
afterAll(async () => h?.close());

const get = (path: string, authorization?: string) =>
  fetch(`${h.service.url}${path}`, { headers: authorization ? { authorization } : {} });

/** Chromium with a fresh profile of its own; `close` removes the profile too. */
async function launchChromium(httpCredentials?: { username: string; password: string }) {
  const userDataDir = await mkdtemp(join(tmpdir(), 'benefits-dashboard-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      ...(httpCredentials && { httpCredentials }),
      timeout: 30_000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return {
      page,
      async close() {
        await context.close();
        await rm(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(userDataDir, { recursive: true, force: true });
    throw error;
  }
}

describe.skipIf(!haveChromium)('the dashboard in a real browser', () => {
  it('shows every queue of the service, and the waiting chunk jobs', async () => {
    const browser = await launchChromium({ username: credentials.user, password: credentials.password });
    try {
      const { page } = browser;
      const response = await page.goto(`${h.service.url}/dashboard`, { timeout: 15_000 });
      expect(response?.status()).toBe(200);
      for (const name of Object.values(QUEUES)) {
        await page.getByText(name, { exact: true }).first().waitFor({ state: 'visible', timeout: 15_000 });
      }
      await page.goto(`${h.service.url}/dashboard/queue/${QUEUES.chunks}?status=waiting`, { timeout: 15_000 });
      await page.getByText('dash-op-chunk-1').first().waitFor({ state: 'visible', timeout: 15_000 });
    } finally {
      await browser.close();
    }
  });

  it('gets no page without credentials', async () => {
    const browser = await launchChromium();
    try {
      const served: string[] = [];
      browser.page.on('response', (response) => {
        if (response.status() < 400) served.push(`${response.status()} ${response.url()}`);
      });
      // Headless Chromium cannot ask anyone for the password: it either shows the 401 or
      // abandons the navigation; both ways nothing of the board is served.
      const outcome = await browser.page.goto(`${h.service.url}/dashboard`, { timeout: 15_000 }).then(
        (response) => `status ${response?.status()}`,
        (error: Error) => error.message,
      );
      expect(outcome).toMatch(/status 401|ERR_INVALID_AUTH_CREDENTIALS/);
      expect(served).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('basic auth', () => {
  it('answers 401 with a challenge without credentials or with wrong ones', async () => {
    for (const authorization of [
      undefined,
      basic(credentials.user, 'wrong'),
      basic('someone', credentials.password),
      'Bearer x',
    ]) {
      for (const path of ['/dashboard', '/dashboard/api/queues', '/dashboard/static/favicon-32x32.png']) {
        const response = await get(path, authorization);
        expect(response.status, `${path} with ${authorization}`).toBe(401);
        expect(response.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
        expect(await response.text()).not.toContain(QUEUES.chunks);
      }
    }
  });

  it('serves the board and its API with the right credentials', async () => {
    const page = await get('/dashboard', basic(credentials.user, credentials.password));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const api = await get('/dashboard/api/queues', basic(credentials.user, credentials.password));
    expect(api.status).toBe(200);
    const { queues } = (await api.json()) as {
      queues: Array<{ name: string; readOnlyMode: boolean; counts: Record<string, number> }>;
    };
    expect(queues.map((q) => q.name).sort()).toEqual(Object.values(QUEUES).sort());
    expect(queues.find((q) => q.name === QUEUES.chunks)?.counts.waiting).toBe(2);
  });

  it('leaves the rest of the service open', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/metrics')).status).toBe(200);
  });
});

describe('read-only (the default)', () => {
  it('marks every queue read-only and refuses every change', async () => {
    const auth = basic(credentials.user, credentials.password);
    const { queues } = (await (await get('/dashboard/api/queues', auth)).json()) as {
      queues: Array<{ readOnlyMode: boolean }>;
    };
    expect(queues.every((q) => q.readOnlyMode)).toBe(true);
    for (const [method, path] of [
      ['PUT', `/dashboard/api/queues/${QUEUES.chunks}/pause`],
      ['PUT', '/dashboard/api/queues/pause'],
      ['PUT', `/dashboard/api/queues/${QUEUES.chunks}/empty`],
      ['PUT', `/dashboard/api/queues/${QUEUES.chunks}/dash-op-chunk-0/clean`],
      ['POST', `/dashboard/api/queues/${QUEUES.chunks}/add`],
    ] as const) {
      const response = await fetch(`${h.service.url}${path}`, { method, headers: { authorization: auth } });
      expect(response.status, `${method} ${path}`).toBe(405);
    }
    expect(await h.service.queues.chunks.isPaused()).toBe(false);
    expect(await h.service.queues.chunks.getJobCounts('waiting')).toEqual({ waiting: 2 });
  });
});

describe('without credentials', () => {
  it('is off outside the quick start (a configured deployment)', async () => {
    const closed = await startHarness('dashboard-closed', { workers: false });
    try {
      expect((await fetch(`${closed.service.url}/dashboard`)).status).toBe(404);
      expect((await fetch(`${closed.service.url}/dashboard/api/queues`)).status).toBe(404);
    } finally {
      await closed.close();
    }
  });
});

describe('DASHBOARD_READ_ONLY=false without credentials, on the quick start machine', () => {
  let writable: Harness;
  beforeAll(async () => {
    writable = await startHarness('dashboard-writable', {
      workers: false,
      env: { DASHBOARD_READ_ONLY: 'false', RUNTIME_MODE: 'local' },
    });
  });
  afterAll(async () => writable?.close());

  it('is open and lets an operator pause and resume a queue', async () => {
    const url = writable.service.url;
    expect((await fetch(`${url}/dashboard`)).status).toBe(200);
    const { queues } = (await (await fetch(`${url}/dashboard/api/queues`)).json()) as {
      queues: Array<{ readOnlyMode: boolean }>;
    };
    expect(queues.some((q) => q.readOnlyMode)).toBe(false);
    expect((await fetch(`${url}/dashboard/api/queues/${QUEUES.events}/pause`, { method: 'PUT' })).status).toBe(200);
    expect(await writable.service.queues.events.isPaused()).toBe(true);
    // Operators see it in the metrics too.
    expect(await (await fetch(`${url}/metrics`)).text()).toContain(`benefits_queue_paused{queue="${QUEUES.events}"} 1`);
    expect((await fetch(`${url}/dashboard/api/queues/${QUEUES.events}/resume`, { method: 'PUT' })).status).toBe(200);
    expect(await writable.service.queues.events.isPaused()).toBe(false);
  });
});

describe.skipIf(!haveChromium)('the board during a batch', () => {
  // One worker, and a row lock held by the test on a member in chunk 40: the batch stops there
  // mid-way, with chunks done, one active and the rest waiting, for as long as the test looks.
  let busy: Harness;
  let lock: HeldRowLock | undefined;
  let shots: string;
  beforeAll(async () => {
    busy = await startHarness('dashboard-batch', {
      env: { WORKER_CONCURRENCY: '1', DASHBOARD_USER: credentials.user, DASHBOARD_PASSWORD: credentials.password },
    });
    // DASHBOARD_SCREENSHOTS=<dir> keeps the pictures for a person to look at.
    shots = process.env.DASHBOARD_SCREENSHOTS ?? (await mkdtemp(join(tmpdir(), 'benefits-dashboard-shots-')));
  });
  afterAll(async () => {
    await lock?.end();
    await busy?.close();
    if (shots && !process.env.DASHBOARD_SCREENSHOTS) await rm(shots, { recursive: true, force: true });
  });

  it('shows the chunks of a running batch, and says what the events queue is for', async () => {
    const members = memberIds('batch', 8_000);
    await busy.waitForOperation(
      await busy.publish({ kind: 'members.associate', enterpriseId: 'E-batch', memberIds: members }),
      90_000,
    );
    lock = await holdMemberLock(busy.config.databaseUrl, members[4_000]!);
    await busy.publish({
      operationId: 'batch-set',
      kind: 'sharing.set',
      enterpriseId: 'E-batch',
      enabled: true,
      memberIds: members,
    });
    await lock.untilBlocking();

    const browser = await launchChromium({ username: credentials.user, password: credentials.password });
    try {
      const { page } = browser;
      await page.setViewportSize({ width: 1400, height: 900 });
      await page.goto(`${busy.service.url}/dashboard`, { timeout: 15_000 });
      for (const name of Object.values(QUEUES)) {
        await page.getByText(name, { exact: true }).first().waitFor({ state: 'visible', timeout: 15_000 });
      }
      await page.screenshot({ path: join(shots, 'overview.png'), fullPage: true });

      await page.goto(`${busy.service.url}/dashboard/queue/${QUEUES.chunks}?status=active`, { timeout: 15_000 });
      await page
        .getByText(/batch-set/)
        .first()
        .waitFor({ state: 'visible', timeout: 15_000 });
      await page.screenshot({ path: join(shots, 'chunks-active.png'), fullPage: true });

      await page.goto(`${busy.service.url}/dashboard/queue/${QUEUES.events}`, { timeout: 15_000 });
      await page
        .getByText(/Nothing in this service consumes them/)
        .first()
        .waitFor({ state: 'visible', timeout: 15_000 });
      await page.screenshot({ path: join(shots, 'events.png'), fullPage: true });
    } finally {
      await browser.close();
    }
    for (const shot of ['overview.png', 'chunks-active.png', 'events.png']) {
      const png = await readFile(join(shots, shot));
      expect(png.subarray(1, 4).toString('latin1'), shot).toBe('PNG');
      expect(png.length, shot).toBeGreaterThan(10_000);
    }
    const during = (await busy.request('GET', '/v1/operations/batch-set')).body;
    expect(during.status).toBe('running');
    expect(during.progress.chunksDone).toBeGreaterThan(0);
    expect(during.progress.chunksDone).toBeLessThan(80);

    await lock.release();
    expect(await busy.waitForOperation('batch-set', 120_000)).toMatchObject({ status: 'completed' });
  }, 240_000);
});
