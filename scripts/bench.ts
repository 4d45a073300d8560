/**
 * Throughput benchmark (SPEC §5): the service's real path against two hand-written SQL references
 * over as many connections, in one run, on a database and a queue prefix of its own that are
 * removed at the end, even on failure. The reference locks, reads and writes in three statements
 * per chunk; the lean one writes the same rows in one statement per chunk, without explicit locks,
 * the least a careful hand-written client could do.
 *
 *   npm run bench -- [--members 200000] [--concurrency 16] [--workers 1] [--rounds 5] [--warm-up 200000] [--only sharing,coupons,settle,publish]
 *
 * `settle` (issue 20) has no lean side: `usage.settle` against its own hand-written reference
 * (`--usage-records`, `--usage-members`, `--enterprises`; scripts/bench/settle.bench.ts).
 */
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Command, InvalidArgumentError } from 'commander';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import { createProducer, type Producer, QUEUES } from '../src/producers/index.js';
import { log, type Round } from './bench/common.js';
import { CompletionWaiter } from './bench/completion-waiter.js';
import { CpuMeter } from './bench/cpu-usage.js';
import { benchCoupons, plan, seedCoupons } from './bench/coupons.bench.js';
import { type BenchEnvironment, createEnvironment } from './bench/environment.js';
import { benchPublishing } from './bench/publishing.bench.js';
import { RedisMemorySampler } from './bench/redis-memory.js';
import { type BenchResults, type Comparison, formatReport, type Pairing } from './bench/report.js';
import type { ScenarioContext } from './bench/scenario.js';
import { planSettlement, settleRun } from './bench/settle-plan.js';
import { seedSettlement } from './bench/settle-seed.js';
import { benchSettle } from './bench/settle.bench.js';
import { benchSharing, seedMembers } from './bench/sharing.bench.js';
import { WorkerProcesses } from './bench/worker-processes.js';

const SCENARIOS = ['sharing', 'coupons', 'settle', 'publish'] as const;
type Scenario = (typeof SCENARIOS)[number];

const integerFrom =
  (min: number, what: string) =>
  (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected a ${what} integer`);
    return n;
  };
const positiveInt = integerFrom(1, 'positive');
const nonNegativeInt = integerFrom(0, 'non-negative');

function intList(value: string): number[] {
  return value.split(',').map((v) => positiveInt(v.trim()));
}

function scenarioList(value: string): Scenario[] {
  const names = value.split(',').map((v) => v.trim());
  const unknown = names.filter((n) => !SCENARIOS.includes(n as Scenario));
  if (unknown.length > 0)
    throw new InvalidArgumentError(`unknown scenario ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}`);
  return names as Scenario[];
}

const serviceDefaults = loadConfig({});
const program = new Command('bench')
  .description('Service throughput against hand-written SQL on the local PostgreSQL and Redis (SPEC §5)')
  .option('--members <n>', 'members in the sharing.set batch; also the number of allocations', positiveInt, 200_000)
  .option(
    '--concurrency <c>',
    'WORKER_CONCURRENCY of each worker process',
    positiveInt,
    serviceDefaults.workerConcurrency,
  )
  .option('--workers <p>', 'worker processes (npm run worker: node dist/main.js worker)', positiveInt, 1)
  .option(
    '--rounds <n>',
    "service, reference and lean reference run this many times each, the first side rotating by round; each ratio's median round is reported",
    positiveInt,
    5,
  )
  .option(
    '--warm-up <n>',
    'items of an unreported first round of each scenario (every side; 0 for none)',
    nonNegativeInt,
    200_000,
  )
  .option('--usage-records <n>', 'usage records settled by the settle scenario', positiveInt, 200_000)
  .option('--usage-batch <n>', 'records per usage.settle operation (settle)', positiveInt, 10_000)
  .option('--usage-members <n>', 'members the usage records are spread over (settle)', positiveInt, 10_000)
  .option(
    '--enterprises <n>',
    'enterprises of the settle scenario, each with its own 20 master packages and 50 coupons; their settlements are the only ones that may run side by side',
    positiveInt,
    4,
  )
  .option('--only <scenarios>', `comma-separated subset of ${SCENARIOS.join(',')}`, scenarioList, [...SCENARIOS])
  .option('--publish-operations <n>', 'small operations published in the publishing test', positiveInt, 2_000)
  .option('--publish-in-flight <list>', 'publishes in flight at once, one test each', intList, [1, 16])
  .option('--timeout <seconds>', 'longest wait for one service run before the bench gives up', positiveInt, 600)
  .option(
    '--database-url <url>',
    'admin connection; the bench creates and drops a database of its own',
    serviceDefaults.databaseUrl,
  )
  .option('--redis-url <url>', 'Redis; the bench uses and deletes a key prefix of its own', serviceDefaults.redisUrl)
  .option(
    '--worker-node-args <flags>',
    'extra node flags for the worker processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"',
  )
  .option('--json', 'print the results as JSON instead of text')
  .parse();

const options = program.opts<{
  members: number;
  concurrency: number;
  workers: number;
  rounds: number;
  warmUp: number;
  only: Scenario[];
  usageRecords: number;
  usageMembers: number;
  usageBatch: number;
  enterprises: number;
  publishOperations: number;
  publishInFlight: number[];
  timeout: number;
  databaseUrl: string;
  redisUrl: string;
  workerNodeArgs?: string;
  json?: boolean;
}>();

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const connections = options.concurrency * options.workers;
/** Items of the warm-up round: never more than a measured round has. */
const warmUp = Math.min(options.warmUp, options.members);
const settleWarmUp = Math.min(options.warmUp, options.usageRecords);

let env: BenchEnvironment | null = null;
let workers: WorkerProcesses | null = null;
let producer: Producer | null = null;
let finished: CompletionWaiter | null = null;
let cleaning: Promise<void> | null = null;
const redisMemory = new RedisMemorySampler(options.redisUrl);
const queueConnection = new Redis(options.redisUrl, { maxRetriesPerRequest: null });

/** Idempotent; runs on success, on failure and on a signal. */
function cleanUp(): Promise<void> {
  return (cleaning ??= (async () => {
    await workers?.stop().catch((e: unknown) => log(`stopping workers: ${String(e)}`));
    await producer?.close().catch((e: unknown) => log(`closing producer: ${String(e)}`));
    await finished?.close().catch((e: unknown) => log(`closing the completion events worker: ${String(e)}`));
    redisMemory.close();
    queueConnection.disconnect();
    if (env) {
      await env.dispose().catch((e: unknown) => log(`clean-up: ${String(e)}`));
      log(`dropped database ${env.databaseName} and deleted Redis keys ${env.queuePrefix}:*`);
    }
  })());
}

// A reader that went away (`npm run bench | head`, a killed pipe) must not stop the clean-up.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanUp().finally(() => process.exit(130));
  });
}
// The per-run --timeout bounds each wait; this bounds everything else (setup, references, clean-up).
const watchdog = setTimeout(
  () => {
    log('bench watchdog: run exceeded its time budget, aborting');
    void cleanUp().finally(() => process.exit(1));
  },
  (options.timeout * 4 + 900) * 1000,
);
watchdog.unref();

async function versions(pool: BenchEnvironment['pool']): Promise<{ postgres: string; redis: string }> {
  const { rows } = await pool.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
  const info = await queueConnection.info('server');
  return { postgres: rows[0]!.v, redis: /^redis_version:(\S+)/m.exec(info)?.[1] ?? '?' };
}

/**
 * Runs the service and both references back to back `--rounds` times. The machine is shared: one
 * round can land on a busy second and the next on a quiet one, so the median round is what is
 * reported, for each ratio on its own (`medianBy`).
 * A round comes first, unreported (`warmUpRound`): the worker as deployed runs for days, and its
 * first few thousand chunks (code not optimised yet, connections opening, statements being
 * prepared) cost it a third more than the rest, while a plain client's few lines warm up at once.
 * After a warm-up of 20,000 members the worker's first 200,000-member round still took 13–15 ms
 * of CPU per 1,000 members against 9–11 in the rounds after it.
 */
async function inRounds<R extends PairedRound>(
  warmUpRound: (() => Promise<unknown>) | null,
  run: (round: number) => Promise<R>,
): Promise<R[]> {
  await warmUpRound?.();
  const rounds: R[] = [];
  for (let round = 1; round <= options.rounds; round += 1) rounds.push(await run(round));
  return rounds;
}

const againstBoth = (rounds: readonly Round[]): Comparison => ({
  ...medianBy(rounds, 'reference'),
  lean: medianBy(rounds, 'lean'),
});

/** A round's service run and the hand-written runs it is compared with (`lean` only where there is one). */
type PairedRound = Pick<Round, 'service' | 'reference'> & Partial<Pick<Round, 'lean'>>;

/**
 * The median round by service/`side`. Each ratio gets its own: a ratio is only meaningful between
 * runs of one round, which met the same machine, and the round typical of one pairing need not be
 * the one typical of the other.
 */
function medianBy<R extends PairedRound>(
  rounds: readonly R[],
  side: 'reference' | (R extends Round ? 'lean' : never),
): Pairing {
  const against = (r: R) => r[side] as Round['reference'];
  const ratios = rounds.map((r) => r.service.rate / against(r).rate);
  const byRatio = ratios.map((ratio, i) => ({ ratio, i })).sort((a, b) => a.ratio - b.ratio);
  const { ratio, i } = byRatio[Math.floor((byRatio.length - 1) / 2)]!;
  return { service: rounds[i]!.service, reference: against(rounds[i]!), ratio, medianRound: i + 1, rounds: ratios };
}

async function main(): Promise<BenchResults> {
  const wanted = new Set(options.only);
  env = await createEnvironment({
    adminUrl: options.databaseUrl,
    redisUrl: options.redisUrl,
    poolSize: connections + 2,
  });
  log(`database ${env.databaseName}, queue prefix ${env.queuePrefix}`);
  const results: BenchResults = {
    settings: {
      members: options.members,
      concurrency: options.concurrency,
      workers: options.workers,
      rounds: options.rounds,
      warmUp,
      referenceConnections: connections,
      cores: cpus().length,
      node: process.version,
      ...(await versions(env.pool)),
      loadAverageBefore: loadavg(),
      ...(wanted.has('settle') && {
        usage: {
          records: options.usageRecords,
          members: options.usageMembers,
          enterprises: options.enterprises,
          batch: options.usageBatch,
          warmUp: settleWarmUp,
        },
      }),
    },
  };
  if (wanted.has('sharing') || wanted.has('coupons') || wanted.has('publish')) {
    log(`seeding ${options.members} associated members`);
    await seedMembers(env.pool, options.members);
  }
  producer = createProducer({
    databaseUrl: env.databaseUrl,
    redisUrl: env.redisUrl,
    queuePrefix: env.queuePrefix,
    queueBackend: 'redis',
  });

  if (wanted.has('sharing') || wanted.has('coupons') || wanted.has('settle')) {
    log(`starting ${options.workers} worker process(es), concurrency ${options.concurrency}`);
    workers = await WorkerProcesses.start(
      options.workers,
      {
        DATABASE_URL: env.databaseUrl,
        REDIS_URL: env.redisUrl,
        QUEUE_PREFIX: env.queuePrefix,
        QUEUE_BACKEND: 'redis',
        WORKER_CONCURRENCY: String(options.concurrency),
        LOG_LEVEL: 'info',
      },
      repoRoot,
      options.workerNodeArgs?.split(/\s+/).filter(Boolean) ?? [],
    );
    finished = new CompletionWaiter(queueConnection, env.queuePrefix);
    const ctx: ScenarioContext = {
      env,
      producer,
      workers,
      redisMemory,
      cpu: new CpuMeter(env.pool, env.databaseName, queueConnection, () => workers?.pids ?? []),
      finished,
      members: options.members,
      connections,
      timeoutMs: options.timeout * 1000,
    };
    const small = { ...ctx, members: warmUp };
    if (wanted.has('sharing'))
      results.sharing = againstBoth(
        await inRounds(warmUp > 0 ? () => benchSharing(small, 0) : null, (round) => benchSharing(ctx, round)),
      );
    if (wanted.has('coupons')) {
      const coupons = plan(options.members);
      await seedCoupons(env.pool, coupons);
      results.coupons = againstBoth(
        await inRounds(warmUp > 0 ? () => benchCoupons(small, plan(warmUp), 0) : null, (round) =>
          benchCoupons(ctx, coupons, round),
        ),
      );
    }
    // After the coupons scenario, whose resets rewrite every coupon and empty member_coupons.
    if (wanted.has('settle')) {
      const usage = planSettlement(options.usageRecords, options.usageMembers, options.enterprises);
      log(
        `seeding ${options.enterprises} enterprises: ${options.usageMembers} members, their packages, coupons and holdings`,
      );
      await seedSettlement(env.pool, usage);
      const run = settleRun(usage, options.usageRecords, options.usageBatch);
      const warmRun = settleWarmUp === options.usageRecords ? run : settleRun(usage, settleWarmUp, options.usageBatch);
      const settle = { ...ctx, members: options.usageRecords };
      results.settle = medianBy(
        await inRounds(
          settleWarmUp > 0 ? () => benchSettle({ ...ctx, members: settleWarmUp }, usage, warmRun, 0) : null,
          (round) => benchSettle(settle, usage, run, round),
        ),
        'reference',
      );
    }
    results.workerHighWaterMark = workers.peaks().highWaterMark;
    await workers.stop();
  }

  if (wanted.has('publish')) {
    const chunkQueue = new Queue(QUEUES.chunks, { connection: queueConnection, prefix: env.queuePrefix });
    try {
      results.publishing = [];
      for (const inFlight of options.publishInFlight) {
        results.publishing.push(
          await benchPublishing(producer, env.pool, chunkQueue, {
            operations: options.publishOperations,
            inFlight,
            members: options.members,
          }),
        );
      }
    } finally {
      await chunkQueue.close();
    }
  }
  results.settings.loadAverageAfter = loadavg();
  return results;
}

let exitCode = 0;
try {
  const results = await main();
  await cleanUp();
  console.log(options.json ? JSON.stringify(results, null, 2) : formatReport(results));
} catch (error) {
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  exitCode = 1;
} finally {
  await cleanUp();
  clearTimeout(watchdog);
}
process.exit(exitCode);
