import { startEmbeddedPostgres } from './embedded-postgres.js';
import { findEmbeddedService } from './embedded-state.js';
import { isListening } from './port-probe.js';

export type Env = Record<string, string | undefined>;

export interface RuntimeMode {
  /** `configured`: the environment names the servers; `local`: the default local ports answer; `embedded`: an embedded PostgreSQL holds both the data and the queues. */
  mode: 'configured' | 'local' | 'embedded';
  env: Env;
  describe: string;
  stop(): Promise<void>;
}

export interface RuntimeOptions {
  dataDir?: string;
  embeddedPort?: number;
  probe?: (host: string, port: number) => Promise<boolean>;
  onLog?: (line: string) => void;
}

const nothing = async () => {};

/**
 * Decides where the service's data and queues live. With DATABASE_URL or REDIS_URL set, the
 * environment decides. Otherwise the default local servers are used when they answer; where
 * PostgreSQL does not, an embedded one is started under ./.data, and where Redis does not, the
 * queues go to PostgreSQL (BullMQ's PostgreSQL backend) — so `npm ci && npm start` works on a
 * machine with no servers at all.
 */
export async function resolveRuntime(env: Env, options: RuntimeOptions = {}): Promise<RuntimeMode> {
  const forceEmbedded = env.RUNTIME_MODE === 'embedded';
  if (!forceEmbedded && (env.DATABASE_URL || env.REDIS_URL)) {
    return { mode: 'configured', env, describe: 'servers from DATABASE_URL / REDIS_URL', stop: nothing };
  }
  const probe = options.probe ?? isListening;
  const [postgresUp, redisUp] = await Promise.all([probe('127.0.0.1', 5432), probe('127.0.0.1', 6379)]);
  const queueEnv: Env = redisUp ? {} : { QUEUE_BACKEND: env.QUEUE_BACKEND ?? 'postgres' };
  if (postgresUp && !forceEmbedded) {
    const describe = redisUp
      ? 'local PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379'
      : 'local PostgreSQL 127.0.0.1:5432, queues in PostgreSQL (no Redis on 127.0.0.1:6379)';
    return { mode: 'local', env: { ...env, ...queueEnv }, describe, stop: nothing };
  }
  const dataDir = options.dataDir ?? env.EMBEDDED_DATA_DIR ?? '.data';
  const port = options.embeddedPort ?? Number(env.EMBEDDED_POSTGRES_PORT ?? 54329);
  const queueBackend = queueEnv.QUEUE_BACKEND ?? env.QUEUE_BACKEND ?? 'redis';
  const embedded = await startEmbeddedPostgres({
    dataDir,
    port,
    queueBackend: queueBackend === 'postgres' ? 'postgres' : 'redis',
    onLog: options.onLog,
  });
  return {
    mode: 'embedded',
    env: { ...env, DATABASE_URL: embedded.databaseUrl, ...queueEnv },
    describe: `embedded PostgreSQL on 127.0.0.1:${port} (data in ${dataDir}/postgres), queues in ${queueBackend === 'postgres' ? 'PostgreSQL' : 'Redis 127.0.0.1:6379'}`,
    stop: embedded.stop,
  };
}

/**
 * For the CLI: the same choice, without starting anything. A running embedded service announces
 * itself (`findEmbeddedService`), so the CLI finds it from any folder.
 */
export async function resolveClientEnv(env: Env, options: RuntimeOptions & { cwd?: string } = {}): Promise<Env> {
  if (env.DATABASE_URL || env.REDIS_URL) return env;
  const probe = options.probe ?? isListening;
  const [postgresUp, redisUp] = await Promise.all([probe('127.0.0.1', 5432), probe('127.0.0.1', 6379)]);
  const queueEnv: Env = redisUp ? {} : { QUEUE_BACKEND: env.QUEUE_BACKEND ?? 'postgres' };
  if (postgresUp && env.RUNTIME_MODE !== 'embedded') return { ...env, ...queueEnv };
  const state = findEmbeddedService({ dataDir: options.dataDir ?? env.EMBEDDED_DATA_DIR, cwd: options.cwd, env });
  if (!state) return env;
  return { ...env, DATABASE_URL: state.databaseUrl, QUEUE_BACKEND: env.QUEUE_BACKEND ?? state.queueBackend };
}
