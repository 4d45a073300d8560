import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface EmbeddedState {
  databaseUrl: string;
  queueBackend: 'redis' | 'postgres';
  pid: number;
  dataDir?: string;
}

/** Where a running embedded service announces itself in its data folder. */
export function embeddedStatePath(dataDir: string): string {
  return join(resolve(dataDir), 'embedded.json');
}

/** The per-user copy, so `benefits` finds the service from any folder. */
export function userStatePath(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'benefits', 'embedded.json');
}

export async function announceEmbeddedService(dataDir: string, state: Omit<EmbeddedState, 'dataDir'>): Promise<void> {
  const text = `${JSON.stringify({ ...state, dataDir: resolve(dataDir) })}\n`;
  await writeFile(embeddedStatePath(dataDir), text);
  const user = userStatePath();
  await mkdir(dirname(user), { recursive: true });
  await writeFile(user, text);
}

export async function forgetEmbeddedService(dataDir: string): Promise<void> {
  await rm(embeddedStatePath(dataDir), { force: true });
  const user = userStatePath();
  const announced = await readFile(user, 'utf8').catch(() => null);
  // Another embedded service started since owns the per-user file now.
  if (announced !== null && (JSON.parse(announced) as EmbeddedState).pid === process.pid)
    await rm(user, { force: true });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readState(path: string): EmbeddedState | null {
  if (!existsSync(path)) return null;
  const state = JSON.parse(readFileSync(path, 'utf8')) as EmbeddedState;
  return isAlive(state.pid) ? state : null;
}

/**
 * The running embedded service for a client: the data folder named (or `.data` here), then a
 * `.data` in any parent folder, then the one this user started last. A file whose process is gone
 * is stale and skipped.
 */
export function findEmbeddedService(
  options: { dataDir?: string; cwd?: string; env?: Record<string, string | undefined> } = {},
): EmbeddedState | null {
  if (options.dataDir) return readState(embeddedStatePath(options.dataDir));
  for (let dir = resolve(options.cwd ?? process.cwd()); ; dir = dirname(dir)) {
    const state = readState(embeddedStatePath(join(dir, '.data')));
    if (state) return state;
    if (dirname(dir) === dir) break;
  }
  return readState(userStatePath(options.env));
}
