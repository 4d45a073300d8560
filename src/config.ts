import { z } from 'zod';

const positiveInt = z.coerce.number().int().positive();

const configSchema = z.object({
  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/test'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  // For Redis Cluster wrap it in a hash tag, e.g. `{benefits}`, so a queue's keys share a slot.
  QUEUE_PREFIX: z.string().min(1).default('bull'),
  HOST: z.string().default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  WORKER_CONCURRENCY: positiveInt.default(8),
  PG_POOL_SIZE: positiveInt.optional(),
  HTTP_BODY_LIMIT_BYTES: positiveInt.default(16 * 1024 * 1024),
  CHUNK_ATTEMPTS: positiveInt.default(10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_GRACE_MS: positiveInt.default(30_000),
});

export interface Config {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly host: string;
  readonly port: number;
  readonly workerConcurrency: number;
  readonly pgPoolSize: number;
  readonly httpBodyLimitBytes: number;
  readonly chunkAttempts: number;
  readonly logLevel: string;
  readonly shutdownGraceMs: number;
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
    redisUrl: e.REDIS_URL,
    queuePrefix: e.QUEUE_PREFIX,
    host: e.HOST,
    port: e.PORT,
    workerConcurrency: e.WORKER_CONCURRENCY,
    // Every concurrent chunk holds one connection for its transaction; leave room for the API.
    pgPoolSize: e.PG_POOL_SIZE ?? e.WORKER_CONCURRENCY + 4,
    httpBodyLimitBytes: e.HTTP_BODY_LIMIT_BYTES,
    chunkAttempts: e.CHUNK_ATTEMPTS,
    logLevel: e.LOG_LEVEL,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
  });
}
