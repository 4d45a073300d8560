import type { FastifyInstance } from 'fastify';
import { type Kysely, sql } from 'kysely';
import { type Config, queueBackendConfig } from './config.js';
import { createDatabase } from './db/database.js';
import { ensureHistoryPartitions } from './db/history-partitions.js';
import { migrateToLatest } from './db/migrate.js';
import type { Database } from './db/schema.js';
import { announceApiAuth } from './auth/api-auth-startup.js';
import { createAuthenticator } from './auth/authenticator.js';
import { buildApp } from './http/app.js';
import { buildOpsApp } from './http/ops-app.js';
import type { Logger } from './logger.js';
import { createServiceMetrics } from './metrics/service-metrics.js';
import { openQueueBackend, type QueueBackend } from './queue/queue-backend.js';
import type { ServiceQueues } from './queue/queues.js';
import { createCompletionNotifier } from './workers/completion-events.js';
import { closeWorkers, type ServiceWorkers, startWorkers } from './workers/workers.js';

export interface ServiceOptions {
  api: boolean;
  workers: boolean;
  migrate: boolean;
}

export interface Service {
  db: Kysely<Database>;
  /** Where the queues live: Redis or PostgreSQL. */
  queueBackend: QueueBackend;
  /** Queues on the workers' patient connection: for workers, administration and tests. */
  queues: ServiceQueues;
  app: FastifyInstance | null;
  workers: ServiceWorkers | null;
  /** The address the API listens on, when it runs. */
  url: string | null;
  /** Whether the API serves the dashboard (off in a configured deployment without credentials). */
  dashboard: boolean;
  /** Idempotent; closes in reverse order of opening: API, workers, queues, Redis, Postgres. */
  stop(): Promise<void>;
}

// Months are made MONTHS_AHEAD ahead: checking a few times a day is plenty.
const PARTITION_CHECK_MS = 6 * 3_600_000;

/** Workers write history: its month partitions must exist now and stay ahead while they run. */
async function keepHistoryPartitions(
  db: Kysely<Database>,
  logger: Logger,
  closers: Array<() => Promise<unknown>>,
): Promise<void> {
  const ensure = async () => {
    const created = await ensureHistoryPartitions(db);
    if (created.length > 0) logger.info({ partitions: created }, 'history partitions created');
  };
  await ensure();
  const timer = setInterval(() => {
    ensure().catch((error: unknown) => logger.error({ err: error }, 'history partitions not created'));
  }, PARTITION_CHECK_MS);
  timer.unref();
  closers.push(async () => clearInterval(timer));
}

/**
 * The board can pause, retry and remove jobs (read-only or not, it shows every payload): outside
 * the quick start's machine it is served only behind credentials, and is off without them.
 */
function dashboardAllowed(config: Config, logger: Logger): boolean {
  if (config.dashboardCredentials !== null || config.runtimeMode !== 'configured') return true;
  logger.warn('dashboard off: set DASHBOARD_USER and DASHBOARD_PASSWORD to serve it at /dashboard');
  return false;
}

/**
 * Stops the listener and waits for the requests in flight, for at most `graceMs`: a connection a
 * client holds open with a request that never ends (a browser left open on the dashboard) must not
 * keep the process from stopping, so past the grace the remaining connections are cut.
 */
async function closeApp(app: FastifyInstance, graceMs: number): Promise<void> {
  const timer = setTimeout(() => app.server.closeAllConnections(), graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(timer);
  }
}

export async function startService(config: Config, logger: Logger, options: ServiceOptions): Promise<Service> {
  const onError = (component: string) => (error: Error) => logger.error({ err: error, component }, 'connection error');
  const db = createDatabase({
    connectionString: config.databaseUrl,
    poolSize: config.pgPoolSize,
    onError: onError('postgres'),
  });
  const closers: Array<() => Promise<unknown>> = [() => db.destroy()];
  const stopAll = async () => {
    for (const close of closers.splice(0).reverse()) {
      await close().catch((error: unknown) => logger.error({ err: error }, 'error while stopping'));
    }
  };
  try {
    if (options.migrate) {
      const applied = await migrateToLatest(db);
      if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');
    }
    const queueBackend = openQueueBackend(queueBackendConfig(config), onError);
    closers.push(() => queueBackend.close());
    const { queues } = queueBackend;
    const metrics = createServiceMetrics({ db, queues, logger });

    let workers: ServiceWorkers | null = null;
    if (options.workers) {
      await keepHistoryPartitions(db, logger, closers);
      workers = startWorkers({
        db,
        databaseUrl: config.databaseUrl,
        connection: queueBackend.connection,
        queues,
        concurrency: config.workerConcurrency,
        chunkAttempts: config.chunkAttempts,
        applySettings: { arrearsLookbackDays: config.arrearsLookbackDays },
        logger,
        onChunkDone: metrics.recordChunk,
        onOperationFinished: createCompletionNotifier(db, async () => queues.events),
        reconcile: {
          ...config.reconcile,
          onReenqueued: metrics.recordReenqueued,
          onItemsDeleted: metrics.recordItemsDeleted,
        },
      });
      metrics.observeWorkers([workers.operations, workers.chunks]);
      closers.push(() => closeWorkers(workers!));
    }

    const dashboard = options.api && dashboardAllowed(config, logger);
    let app: FastifyInstance | null = null;
    let url: string | null = null;
    const { producer } = queueBackend;
    const readiness = {
      postgres: () => sql`select 1`.execute(db),
      [queueBackend.kind === 'redis' ? 'redis' : 'queue']: () => producer.ping(),
    };
    if (options.api) {
      app = await buildApp({
        db,
        publisher: { db, chunkQueue: () => producer.chunks(), chunkAttempts: config.chunkAttempts },
        control: {
          db,
          chunkQueue: () => producer.chunks(),
          chunkAttempts: config.chunkAttempts,
          notifyFinished: createCompletionNotifier(db, () => producer.events()),
        },
        readiness,
        bodyLimitBytes: config.httpBodyLimitBytes,
        logger,
        authenticate: config.apiAuth ? createAuthenticator(db, logger) : null,
        rateLimitPerMinute: config.rateLimitPerMinute,
        metrics: { source: metrics, token: config.metricsToken },
        // The administration queues: the board waits out a queue-store blip instead of failing.
        ...(dashboard && {
          dashboard: { queues, readOnly: config.dashboardReadOnly, credentials: config.dashboardCredentials },
        }),
      });
    } else if (options.workers && config.metricsPort !== null) {
      // A worker-only process counts chunks no API process sees: it serves them itself.
      app = buildOpsApp({ readiness, metrics, metricsToken: config.metricsToken, logger });
    }
    if (app) {
      const port = options.api ? config.port : config.metricsPort!;
      url = await app.listen({ host: config.host, port });
      closers.push(() => closeApp(app!, config.shutdownGraceMs));
      if (options.api) await announceApiAuth({ db, config, logger, url });
    }

    let stopping: Promise<void> | null = null;
    return {
      db,
      queueBackend,
      queues,
      app,
      workers,
      url,
      dashboard,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
