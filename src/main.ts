import { type Config, loadConfig } from './config.js';
import { type EntryPoint, entryPointLinks } from './http/root.routes.js';
import { createLogger } from './logger.js';
import { resolveRuntime, type RuntimeMode } from './runtime/runtime-mode.js';
import { startService, type Service } from './service.js';

type Role = 'all' | 'worker' | 'migrate';

const role = (process.argv[2] ?? 'all') as Role;
if (!['all', 'worker', 'migrate'].includes(role)) {
  console.error(`usage: main.js [all|worker|migrate], got ${role}`);
  process.exit(2);
}

/** A start that cannot happen (no embedded PostgreSQL installed, a bad variable) is one plain line. */
function refuseToStart(error: unknown): never {
  const messages: string[] = [];
  for (let e = error as Error | undefined; e instanceof Error && messages.length < 4; e = e.cause as Error | undefined)
    if (!messages.some((m) => m.includes(e!.message))) messages.push(e.message);
  process.stderr.write(`benefits: cannot start: ${messages.join(': ')}\n`);
  if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') console.error(error);
  process.exit(1);
}

/** Where a newcomer goes next, as plain lines: 0.0.0.0 is no address to open in a browser. */
function announceEntryPoints(url: string, dashboard: boolean): void {
  const base = url.replace(/\/\/(0\.0\.0\.0|\[::\])(?=[:/]|$)/, '//localhost');
  const served: EntryPoint[] = ['api', ...(dashboard ? (['dashboard'] as const) : []), 'metrics'];
  const links = entryPointLinks(base, role === 'all' ? served : ['metrics', 'readiness']);
  for (const [name, link] of Object.entries(links)) process.stderr.write(`benefits: ${name.padEnd(10)}${link}\n`);
}

const bootLogger = createLogger(process.env.LOG_LEVEL ?? 'info');
const runtime: RuntimeMode = await resolveRuntime(process.env, {
  onLog: (line) => bootLogger.debug({ component: 'embedded-postgres' }, line),
}).catch(refuseToStart);
let config: Config;
try {
  config = loadConfig({ ...runtime.env, RUNTIME_MODE: runtime.mode });
} catch (error) {
  await runtime.stop();
  refuseToStart(error);
}
const logger = createLogger(config.logLevel);
// Said plainly as well as in the JSON log: which servers this process is using.
process.stderr.write(`benefits: ${runtime.mode} mode: ${runtime.describe}\n`);

const service: Service = await startService(config, logger, {
  api: role === 'all',
  workers: role !== 'migrate',
  migrate: role !== 'worker',
}).catch(async (error: unknown) => {
  await runtime.stop();
  logger.error({ err: error }, 'start-up failed');
  return refuseToStart(error);
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
if (service.url) announceEntryPoints(service.url, service.dashboard);

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
  // The service first, then the embedded PostgreSQL it works on (in a process group of its own,
  // the terminal's Ctrl-C does not reach it).
  await service.stop();
  await runtime.stop();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', (s) => void shutdown(s));
process.on('SIGINT', (s) => void shutdown(s));
