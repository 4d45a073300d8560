import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every child this test file started, so afterAll can end them whatever happened. */
const children = new Set<ChildProcess>();

export interface ServiceProcess {
  readonly pid: number;
  /** Everything the process wrote so far (JSON log lines on stdout, the mode line on stderr). */
  output(): string;
  /** Resolves once the process logged that it started (an info line: keep LOG_LEVEL at info or below); rejects if it exits first or the time runs out. */
  ready(timeoutMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  /** Whether the process is still running. */
  running(): boolean;
  /** Resolves with how the process ended; rejects after `timeoutMs` if it still runs. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * `node --import tsx src/main.ts <role>`, spawned directly (not through npm) so that a signal
 * reaches the service itself; `compiled`: `node dist/main.js <role>`, what the image runs
 * (`ensureBuild()` first). `detached`: in a process group of its own, as a terminal starts it.
 */
export function spawnService(
  role: 'all' | 'worker',
  env: Record<string, string>,
  options: { compiled?: boolean; detached?: boolean } = {},
): ServiceProcess {
  const entry = options.compiled ? ['dist/main.js', role] : ['--import', 'tsx', 'src/main.ts', role];
  const child = spawn(process.execPath, entry, {
    cwd: ROOT,
    detached: options.detached ?? false,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  // Keep the tail only: a long run logs a lot and the test needs the recent lines.
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-200_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  const exited = (timeoutMs = 30_000) =>
    Promise.race([
      exit,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error(`process ${child.pid} still running after ${timeoutMs} ms`)),
          timeoutMs,
        ).unref(),
      ),
    ]);
  return {
    pid: child.pid!,
    output: () => output,
    async ready(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!output.includes('benefits worker started')) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`service exited before it was ready (${child.exitCode ?? child.signalCode}):\n${output}`);
        }
        if (Date.now() > deadline) throw new Error(`service not ready after ${timeoutMs} ms:\n${output}`);
        await sleep(50);
      }
    },
    kill: (signal) => void child.kill(signal),
    running: () => child.exitCode === null && child.signalCode === null,
    exited,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited(graceMs).catch(async () => {
        child.kill('SIGKILL');
        await exit;
      });
    },
  };
}

/** Ends every child still running: for afterAll, after a failed test as well as a passing one. */
export async function stopChildren(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined; bounded by `timeoutMs`. */
export async function pollUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  { timeoutMs = 60_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** A TCP port nobody listens on right now. */
export async function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /**
   * Starts it again on the same port (a no-op while it runs); `appendonly` keeps the data in this
   * server's own temp dir across restarts, `fresh` starts from an empty dir.
   */
  start(options?: { appendonly?: boolean; fresh?: boolean }): Promise<void>;
  /** SIGTERM: Redis saves nothing (`--save ""`), flushes its AOF when it has one, and exits. */
  stop(): Promise<void>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

/**
 * A redis-server of the test's own on a spare port, so stopping it disturbs no other test.
 * Run like production should: `maxmemory-policy noeviction`.
 */
export async function startPrivateRedis(options: { appendonly?: boolean } = {}): Promise<PrivateRedis> {
  const port = await sparePort();
  let dir = await mkdtemp(join(tmpdir(), 'benefits-redis-'));
  let server: ChildProcess | null = null;
  let log = '';
  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    const running = server;
    server = null;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  const start = async ({ appendonly = options.appendonly ?? false, fresh = false } = {}) => {
    if (server && server.exitCode === null && server.signalCode === null) return;
    if (fresh) {
      await rm(dir, { recursive: true, force: true });
      dir = await mkdtemp(join(tmpdir(), 'benefits-redis-'));
    }
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      appendonly ? 'yes' : 'no',
    ];
    args.push('--dir', dir, '--maxmemory-policy', 'noeviction', '--daemonize', 'no');
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    child.stdout!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-20_000)));
    server = child;
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await pollUntil(
        `redis-server on port ${port}`,
        async () => {
          if (child.exitCode !== null) throw new Error(`redis-server exited:\n${log}`);
          try {
            if (probe.status !== 'ready') await probe.connect();
            // Answers PONG once it has loaded its AOF (LOADING errors before that).
            return (await probe.ping()) === 'PONG' ? true : undefined;
          } catch {
            probe.disconnect();
            return undefined;
          }
        },
        { timeoutMs: 20_000, intervalMs: 50 },
      );
    } finally {
      probe.disconnect();
    }
  };
  await start();
  return {
    port,
    url,
    start,
    stop,
    async dispose() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The environment of a service process on a test's own database and queue prefix. */
export function serviceEnv(
  config: { databaseUrl: string; redisUrl: string; queuePrefix: string },
  extra: Record<string, string> = {},
): Record<string, string> {
  return { DATABASE_URL: config.databaseUrl, REDIS_URL: config.redisUrl, QUEUE_PREFIX: config.queuePrefix, ...extra };
}
