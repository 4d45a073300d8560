import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuild, ROOT } from '../support/build.js';
import { type Harness, startHarness } from '../support/harness.js';

// Another Node system installs the producer from a packed tarball and uses it from plain `node`:
// no tsx, no TypeScript. The program it runs is the README's producer snippet, word for word.
const run = promisify(execFile);
let dir: string;
let consumer: string;

/** The fenced block after `<!-- producer.mjs -->` in the README. */
async function readmeSnippet(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const match = /<!-- producer\.mjs -->\s*```js\n([\s\S]*?)```/.exec(readme);
  if (!match) throw new Error('README.md has no producer.mjs snippet');
  return match[1]!;
}

beforeAll(async () => {
  await ensureBuild();
  dir = await mkdtemp(join(tmpdir(), 'benefits-package-'));
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  consumer = join(dir, 'consumer');
  await run('mkdir', [consumer]);
  await writeFile(join(consumer, 'package.json'), '{ "name": "consumer", "private": true, "type": "module" }\n');
  // The embedded PostgreSQL binaries are optional: a publisher does not need them.
  await run('npm', ['install', join(dir, filename), '--prefer-offline', '--no-audit', '--no-fund', '--omit=optional'], {
    cwd: consumer,
    timeout: 240_000,
  });
  await writeFile(join(consumer, 'producer.mjs'), await readmeSnippet());
}, 300_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function publishFromConsumer(h: Harness) {
  const { stdout } = await run(process.execPath, ['producer.mjs'], {
    cwd: consumer,
    env: {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: h.config.databaseUrl,
      REDIS_URL: h.config.redisUrl,
      QUEUE_PREFIX: h.config.queuePrefix,
      QUEUE_BACKEND: h.config.queueBackend,
    },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('the producer as an installed package', () => {
  it.each(['redis', 'postgres'] as const)(
    'publishes and awaits an operation from a plain .mjs file, queues in %s',
    async (backend) => {
      const h = await startHarness(`package_${backend}`, { env: { QUEUE_BACKEND: backend } });
      try {
        const result = await publishFromConsumer(h);
        expect(result).toMatchObject({ status: 'completed', counts: { applied: 2 } });
        const view = await h.request('GET', `/v1/operations/${result.operationId}`);
        expect(view.body).toMatchObject({ kind: 'members.associate', enterpriseId: 'E1', status: 'completed' });
      } finally {
        await h.close();
      }
    },
    120_000,
  );

  it('has types, and importing it leaves the host process as it was', async () => {
    const installed = join(consumer, 'node_modules', 'benefits-worker');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
    expect(manifest.exports['.']).toEqual({
      types: './dist/producers/index.d.ts',
      default: './dist/producers/index.js',
    });
    expect(await readFile(join(installed, 'dist', 'producers', 'index.d.ts'), 'utf8')).toMatch(
      /export declare function createProducer/,
    );
    // What a library could change behind its host's back: signal and exit handlers, the
    // environment, loader flags (tsx), error settings. BullMQ's tslib and zod put their shared
    // helpers on globalThis under `__` names; nothing else may appear there.
    const probe = `
      const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit', 'beforeExit', 'uncaughtException', 'unhandledRejection', 'warning'];
      const snapshot = () => JSON.stringify([events.map((e) => process.listenerCount(e)), process.env, process.execArgv,
        Error.stackTraceLimit, process.exitCode ?? null, process.getMaxListeners()]);
      const before = snapshot();
      const globalsBefore = new Set(Object.keys(globalThis));
      const lib = await import('benefits-worker');
      const added = Object.keys(globalThis).filter((k) => !globalsBefore.has(k) && !k.startsWith('__'));
      console.log(JSON.stringify({ same: before === snapshot(), added, createProducer: typeof lib.createProducer }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: consumer });
    expect(JSON.parse(stdout)).toEqual({ same: true, added: [], createProducer: 'function' });
  });
});
