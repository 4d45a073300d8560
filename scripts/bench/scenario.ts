import type { Producer } from '../../src/producers/index.js';
import type { CompletionWaiter } from './completion-waiter.js';
import { type CpuMeter, type CpuReport, msPerThousand } from './cpu-usage.js';
import type { BenchEnvironment } from './environment.js';
import type { RedisMemorySampler } from './redis-memory.js';
import type { WorkerProcesses } from './worker-processes.js';
import { log, type ServiceRun } from './common.js';

export const ENTERPRISE = 'E-bench';

/** What every scenario gets from the bench: the servers, the service under test and the limits. */
export interface ScenarioContext {
  env: BenchEnvironment;
  producer: Producer;
  workers: WorkerProcesses;
  redisMemory: RedisMemorySampler;
  cpu: CpuMeter;
  /** The service's completion events, which end a measured run. */
  finished: CompletionWaiter;
  members: number;
  /** Connections of the hand-written reference: worker concurrency × worker processes. */
  connections: number;
  timeoutMs: number;
}

/**
 * The moment a measured phase starts, service or reference. A checkpoint first: both sides then
 * start with nothing dirty, and each pays for the full-page images of the pages it touches first.
 * Without it, the checkpoint that max_wal_size forces every few phases landed in one side's run
 * or the other's at random, and cost that side up to a fifth of its rate.
 */
export async function startPhase(ctx: ScenarioContext): Promise<void> {
  await ctx.env.pool.query('CHECKPOINT');
  await ctx.cpu.start();
}

/**
 * Both sides of a round: the service first in odd rounds, the reference first in even ones, so
 * that whatever drifts during a run (the machine's speed, the tables' layout) favours neither.
 */
export async function bothSides<S, R>(
  round: number,
  service: () => Promise<S>,
  reference: () => Promise<R>,
): Promise<{ service: S; reference: R }> {
  if (round % 2 === 1) {
    const s = await service();
    return { service: s, reference: await reference() };
  }
  const r = await reference();
  return { service: await service(), reference: r };
}

/** One side of a round: announced, run, its rate logged, then the tables put back for the next. */
export async function phase<T extends { items: number; seconds: number; rate: number; cpu: CpuReport }>(
  title: string,
  unit: string,
  run: () => Promise<T>,
  reset: () => Promise<void>,
): Promise<T> {
  log(title);
  const result = await run();
  const per = (seconds: number) => msPerThousand(seconds, result.items).toFixed(1);
  const { cpu } = result;
  log(
    `  ${result.seconds.toFixed(2)} s, ${Math.round(result.rate)} ${unit}/s; CPU ms per 1,000: machine ${per(cpu.machine)}, ` +
      `workers ${per(cpu.workers)}, Postgres ${per(cpu.postgres)}, Redis ${per(cpu.redis)}, bench ${per(cpu.bench)}`,
  );
  await reset();
  return result;
}

/** Times `run` (publish to final) while sampling the workers' RSS and Redis memory. */
export async function measureService(
  ctx: ScenarioContext,
  items: number,
  run: (published: () => void) => Promise<void>,
): Promise<ServiceRun> {
  ctx.workers.resetPeaks();
  await ctx.redisMemory.start();
  await startPhase(ctx);
  const started = performance.now();
  let publishSeconds = Number.NaN;
  const published = () => {
    publishSeconds = (performance.now() - started) / 1000;
  };
  const outcome = await run(published).then(
    () => null,
    (error: unknown) => ({ error }),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpu = await ctx.cpu.stop();
  const redis = await ctx.redisMemory.stop();
  if (outcome) throw outcome.error;
  return { items, seconds, rate: items / seconds, publishSeconds, rss: ctx.workers.peaks(), redis, cpu };
}

export class BenchCheckError extends Error {
  override name = 'BenchCheckError';
  readonly code = 'bench_check_failed';
}

/** The bench refuses to report a rate for work that was not done right. */
export function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) throw new BenchCheckError(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}
