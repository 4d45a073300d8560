import { z } from 'zod';
import { clusterUrl, isHashTagPrefix, parseRedisTarget } from './queue/redis-target.js';

const positiveInt = z.coerce.number().int().positive();
// Compose files often pass `VAR=` for "not set": an empty value means absent, not an empty password.
const optionalSecret = z.preprocess((value) => (value === '' ? undefined : value), z.string().min(1).optional());

const configSchema = z
  .object({
    DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/test'),
    // One server, or a Redis Cluster: `redis+cluster://host:port,host:port` (or REDIS_CLUSTER_NODES).
    REDIS_URL: z
      .string()
      .refine((url) => parseRedisTarget(url) !== null, 'must be redis://, rediss:// or redis+cluster://host:port,...')
      .default('redis://127.0.0.1:6379'),
    REDIS_CLUSTER_NODES: z
      .string()
      .regex(/^\s*[^,\s]+:\d+\s*(,\s*[^,\s]+:\d+\s*)*$/, 'must be host:port,host:port,...')
      .optional(),
    // On a Redis Cluster it must be a hash tag, e.g. `{benefits}`, so a queue's keys share a slot.
    QUEUE_PREFIX: z.string().min(1).default('bull'),
    // `postgres` keeps the queues in PostgreSQL (BullMQ 6's PostgreSQL backend) instead of Redis.
    QUEUE_BACKEND: z.enum(['redis', 'postgres']).default('redis'),
    QUEUE_SCHEMA: z
      .string()
      .regex(/^[a-z_][a-z0-9_]*$/)
      .default('bullmq'),
    HOST: z.string().default('0.0.0.0'),
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    WORKER_CONCURRENCY: positiveInt.default(16),
    PG_POOL_SIZE: positiveInt.optional(),
    HTTP_BODY_LIMIT_BYTES: positiveInt.default(16 * 1024 * 1024),
    CHUNK_ATTEMPTS: positiveInt.default(10),
    ARREARS_LOOKBACK_DAYS: positiveInt.default(30),
    RECONCILE_INTERVAL_MS: positiveInt.default(30_000),
    RECONCILE_GRACE_MS: positiveInt.default(60_000),
    ITEM_RETENTION_DAYS: positiveInt.default(30),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    SHUTDOWN_GRACE_MS: positiveInt.default(30_000),
    // Safe by default: an operator has to ask for a board that can pause, retry or remove jobs.
    DASHBOARD_READ_ONLY: z.enum(['true', 'false']).default('true'),
    DASHBOARD_USER: optionalSecret,
    DASHBOARD_PASSWORD: optionalSecret,
    // Set by `src/main.ts` from where the servers came from: the quick start's modes trust the machine.
    RUNTIME_MODE: z.enum(['configured', 'local', 'embedded']).default('configured'),
    // `off` only on a trusted network: every caller may then do everything.
    API_AUTH: z.enum(['on', 'off']).default('on'),
    RATE_LIMIT_PER_MINUTE: positiveInt.default(3000),
    METRICS_TOKEN: optionalSecret,
    EMBEDDED_DATA_DIR: z.string().min(1).default('.data'),
  })
  .refine((e) => (e.DASHBOARD_USER === undefined) === (e.DASHBOARD_PASSWORD === undefined), {
    path: ['DASHBOARD_PASSWORD'],
    message: 'DASHBOARD_USER and DASHBOARD_PASSWORD must be set together',
  })
  .refine((e) => e.QUEUE_BACKEND !== 'redis' || !onCluster(e) || isHashTagPrefix(e.QUEUE_PREFIX), {
    path: ['QUEUE_PREFIX'],
    message:
      'on a Redis Cluster the queue prefix must be a hash tag such as {benefits}: each BullMQ script touches several keys of a queue, which must share a slot',
  });

function onCluster(e: { REDIS_URL: string; REDIS_CLUSTER_NODES?: string | undefined }): boolean {
  return e.REDIS_CLUSTER_NODES !== undefined || parseRedisTarget(e.REDIS_URL)?.kind === 'cluster';
}

export interface Config {
  readonly databaseUrl: string;
  /** One server's URL, or a cluster's (`redis+cluster://host:port,...`). */
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly queueBackend: 'redis' | 'postgres';
  readonly queueSchema: string;
  readonly host: string;
  readonly port: number;
  /** Where a worker-only process serves /healthz, /readyz and /metrics; null: it serves nothing. */
  readonly metricsPort: number | null;
  readonly workerConcurrency: number;
  readonly pgPoolSize: number;
  readonly httpBodyLimitBytes: number;
  readonly chunkAttempts: number;
  /** A member disabled within this many days (by `usedAt`) of drawing on the master's packages is flagged. */
  readonly arrearsLookbackDays: number;
  /** The reconciler (`src/workers/reconciler.ts`): how often it runs, how long a chunk job may be missing, how long items are kept. */
  readonly reconcile: { readonly intervalMs: number; readonly graceMs: number; readonly itemRetentionDays: number };
  readonly logLevel: string;
  readonly shutdownGraceMs: number;
  readonly dashboardReadOnly: boolean;
  /** Basic-auth credentials for the dashboard; null leaves it open (a trusted network). */
  readonly dashboardCredentials: { readonly user: string; readonly password: string } | null;
  /** `local` and `embedded`: the quick start on a developer's machine (src/runtime/runtime-mode.ts). */
  readonly runtimeMode: 'configured' | 'local' | 'embedded';
  /** false: `API_AUTH=off`, /v1 takes no key. */
  readonly apiAuth: boolean;
  /** Requests per minute and API key (per address for requests without one). */
  readonly rateLimitPerMinute: number;
  /** When set, /metrics requires `Authorization: Bearer <token>`. */
  readonly metricsToken: string | null;
  /** The quick start's files: the embedded database, the first admin key. */
  readonly dataDir: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'invalid_config';
}

/** Parsed once at start-up; tests build their own with `loadConfig({...})`. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${detail}`, { cause: parsed.error });
  }
  const e = parsed.data;
  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.REDIS_CLUSTER_NODES === undefined ? e.REDIS_URL : clusterUrl(e.REDIS_CLUSTER_NODES),
    queuePrefix: e.QUEUE_PREFIX,
    queueBackend: e.QUEUE_BACKEND,
    queueSchema: e.QUEUE_SCHEMA,
    host: e.HOST,
    port: e.PORT,
    metricsPort: e.METRICS_PORT ?? null,
    workerConcurrency: e.WORKER_CONCURRENCY,
    // Every concurrent chunk holds one connection for its transaction; leave room for the API.
    pgPoolSize: e.PG_POOL_SIZE ?? e.WORKER_CONCURRENCY + 4,
    httpBodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES,
    chunkAttempts: e.CHUNK_ATTEMPTS,
    arrearsLookbackDays: e.ARREARS_LOOKBACK_DAYS,
    reconcile: Object.freeze({
      intervalMs: e.RECONCILE_INTERVAL_MS,
      graceMs: e.RECONCILE_GRACE_MS,
      itemRetentionDays: e.ITEM_RETENTION_DAYS,
    }),
    logLevel: e.LOG_LEVEL,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    dashboardReadOnly: e.DASHBOARD_READ_ONLY === 'true',
    dashboardCredentials:
      e.DASHBOARD_USER !== undefined && e.DASHBOARD_PASSWORD !== undefined
        ? Object.freeze({ user: e.DASHBOARD_USER, password: e.DASHBOARD_PASSWORD })
        : null,
    runtimeMode: e.RUNTIME_MODE,
    apiAuth: e.API_AUTH === 'on',
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    metricsToken: e.METRICS_TOKEN ?? null,
    dataDir: e.EMBEDDED_DATA_DIR,
  });
}

/** The queue store the configuration names. */
export function queueBackendConfig(config: Config) {
  return config.queueBackend === 'redis'
    ? ({ kind: 'redis', redisUrl: config.redisUrl, prefix: config.queuePrefix } as const)
    : ({ kind: 'postgres', databaseUrl: config.databaseUrl, schema: config.queueSchema } as const);
}
