import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Job } from 'bullmq';
import { loadConfig, type Config } from '../../src/config.js';
import type { OperationView } from '../../src/read/operations.read.js';
import { awaitFinalOperation } from '../../src/producers/await-operation.js';
import { createLogger, type Logger } from '../../src/logger.js';
import type { ChunkJob } from '../../src/contract/index.js';
import { type Service, startService } from '../../src/service.js';
import { createKey } from '../../src/auth/api-keys.sql.js';
import { isolate, type Isolated } from './isolation.js';
import { REDIS_URL } from './servers.js';

export interface Harness {
  config: Config;
  service: Service;
  isolated: Isolated;
  /** An admin key (every scope, every enterprise): what `request` sends. */
  adminKey: string;
  /** Sends the request with an admin key. */
  request(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Publishes through HTTP and expects 202. */
  publish(body: Record<string, unknown>): Promise<string>;
  waitForOperation(operationId: string, timeoutMs?: number): Promise<OperationView>;
  /** The operation's chunk jobs still waiting on the queue. */
  waitingChunkJobs(operationId: string): Promise<Job<ChunkJob>[]>;
  close(): Promise<void>;
}

export async function startHarness(
  label: string,
  options: { workers?: boolean; env?: Record<string, string>; logger?: Logger } = {},
): Promise<Harness> {
  const isolated = await isolate(label);
  // Where a quick-start mode (RUNTIME_MODE=local) would write its first admin key: never the worktree's.
  const dataDir = await mkdtemp(join(tmpdir(), 'benefits-harness-'));
  const config = loadConfig({
    EMBEDDED_DATA_DIR: dataDir,
    DATABASE_URL: isolated.databaseUrl,
    REDIS_URL,
    QUEUE_PREFIX: isolated.queuePrefix,
    // The postgres-queues test project runs the same files with the queues in PostgreSQL.
    QUEUE_BACKEND: process.env.TEST_QUEUE_BACKEND ?? 'redis',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    WORKER_CONCURRENCY: '4',
    CHUNK_ATTEMPTS: '5',
    // Tests publish and poll far faster than a client would: the limit has its own test.
    RATE_LIMIT_PER_MINUTE: '1000000',
    ...options.env,
  });
  const service = await startService(config, options.logger ?? createLogger(config.logLevel), {
    api: true,
    workers: options.workers ?? true,
    migrate: false,
  });
  const { key: adminKey } = await createKey(service.db, { name: 'test admin', scopes: ['admin'], enterprises: [] });
  const request: Harness['request'] = async (method, url, body) => {
    const response = await service.app!.inject({
      method,
      url,
      payload: body as never,
      headers: { authorization: `Bearer ${adminKey}` },
    });
    return { status: response.statusCode, body: response.body ? JSON.parse(response.body) : null };
  };
  return {
    config,
    service,
    isolated,
    adminKey,
    request,
    async publish(body) {
      const response = await request('POST', '/v1/operations', body);
      if (response.status !== 202)
        throw new Error(`publish answered ${response.status}: ${JSON.stringify(response.body)}`);
      return response.body.operationId as string;
    },
    waitForOperation: (operationId, timeoutMs = 30_000) =>
      awaitFinalOperation(service.db, operationId, { timeoutMs, intervalMs: 50 }),
    async waitingChunkJobs(operationId) {
      const jobs = await service.queues.chunks.getJobs(['waiting', 'prioritized'], 0, -1);
      return jobs.filter((j) => j.data.operationId === operationId) as Job<ChunkJob>[];
    },
    async close() {
      await service.stop();
      await isolated.dispose();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const memberIds = (prefix: string, count: number, start = 0): string[] =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(start + i).padStart(7, '0')}`);
