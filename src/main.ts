import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { resolveRuntime } from './runtime/runtime-mode.js';
import { startService } from './service.js';

type Role = 'all' | 'worker' | 'migrate';

const role = (process.argv[2] ?? 'all') as Role;
if (!['all', 'worker', 'migrate'].includes(role)) {
  console.error(`usage: main.ts [all|worker|migrate], got ${role}`);
  process.exit(2);
}

const bootLogger = createLogger(process.env.LOG_LEVEL ?? 'info');
const runtime = await resolveRuntime(process.env, {
  onLog: (line) => bootLogger.debug({ component: 'embedded-postgres' }, line),
});
const config = loadConfig({ ...runtime.env, RUNTIME_MODE: runtime.mode });
const logger = createLogger(config.logLevel);
// Said plainly as well as in the JSON log: which servers this process is using.
process.stderr.write(`benefits: ${runtime.mode} mode: ${runtime.describe}\n`);

const service = await startService(config, logger, {
  api: role === 'all',
  workers: role !== 'migrate',
  migrate: role !== 'worker',
}).catch(async (error: unknown) => {
  await runtime.stop();
  throw error;
});
if (role === 'migrate') {
  await service.stop();
  await runtime.stop();
  logger.info('migrations up to date');
  process.exit(0);
}
logger.info(
  {
    role,
    mode: runtime.mode,
    servers: runtime.describe,
    queueBackend: config.queueBackend,
    url: service.url,
    queuePrefix: config.queuePrefix,
    concurrency: config.workerConcurrency,
  },
  'benefits worker started',
);

let signals = 0;
async function shutdown(signal: string) {
  signals += 1;
  if (signals > 1) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: letting running chunks finish');
  const timer = setTimeout(() => {
    logger.error('grace period over: exiting with chunks still running');
    process.exit(1);
  }, config.shutdownGraceMs);
  timer.unref();
  await service.stop();
  await runtime.stop();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', (s) => void shutdown(s));
process.on('SIGINT', (s) => void shutdown(s));
