import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findEmbeddedService, userStatePath } from '../../src/runtime/embedded-state.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'benefits-state-'));
});
afterAll(async () => rm(root, { recursive: true, force: true }));

const state = (databaseUrl: string, pid = process.pid) =>
  `${JSON.stringify({ databaseUrl, queueBackend: 'postgres', pid })}\n`;

describe('finding the running embedded service', () => {
  it('from a subfolder of the clone, then from the per-user file, skipping a stale one', async () => {
    const clone = join(root, 'clone');
    await mkdir(join(clone, '.data'), { recursive: true });
    await mkdir(join(clone, 'migrations', 'batch-1'), { recursive: true });
    await writeFile(join(clone, '.data', 'embedded.json'), state('postgres://clone'));
    const env = { XDG_STATE_HOME: join(root, 'state') };
    expect(findEmbeddedService({ cwd: join(clone, 'migrations', 'batch-1'), env })?.databaseUrl).toBe(
      'postgres://clone',
    );

    const user = userStatePath(env);
    expect(user).toBe(join(root, 'state', 'benefits', 'embedded.json'));
    await mkdir(join(root, 'state', 'benefits'), { recursive: true });
    await writeFile(user, state('postgres://announced'));
    expect(findEmbeddedService({ cwd: root, env })?.databaseUrl).toBe('postgres://announced');

    // A service that died without cleaning up: its file names a process that is gone.
    await writeFile(user, state('postgres://gone', 2 ** 22 + 12_345));
    expect(findEmbeddedService({ cwd: root, env })).toBeNull();
  });
});
