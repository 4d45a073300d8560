import type pg from 'pg';
import type { Producer } from '../../src/producers/index.js';
import type { CompletionWaiter } from './completion-waiter.js';
import { type CpuMeter, type CpuReport, msPerThousand } from './cpu-usage.js';
import type { BenchEnvironment } from './environment.js';
import type { RedisMemorySampler } from './redis-memory.js';
import type { WorkerProcesses } from './worker-processes.js';
import { log, type ReferenceRun, runLanes, type ServiceRun } from './common.js';

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
 * The moment a measured phase starts, the service's or a hand-written one. A checkpoint first: every
 * side then starts with nothing dirty, and each pays for the full-page images of the pages it
 * touches first. Without it, the checkpoint that max_wal_size forces every few phases landed in one
 * side's run or another's at random, and cost that side up to a fifth of its rate.
 */
export async function startPhase(ctx: ScenarioContext): Promise<void> {
  await ctx.env.pool.query('CHECKPOINT');
  await ctx.cpu.start();
}

/**
 * Every side of a round, one after the other, in the order `sides` lists them but starting one
 * side further along each round (round 1 from the first, round 2 from the second, ...): over as
 * many rounds as there are sides, each side runs once in each position, so that whatever drifts
 * during a round (the machine's speed, the tables' layout) favours none of them.
 */
export async function inTurn<T extends object>(
  round: number,
  sides: { [K in keyof T]: () => Promise<T[K]> },
): Promise<T> {
  const names = Object.keys(sides) as (keyof T)[];
  // Round 0 (the warm-up) too: a remainder that is never negative.
  const first = (((round - 1) % names.length) + names.length) % names.length;
  const results: Partial<T> = {};
  for (const name of [...names.slice(first), ...names.slice(0, first)]) results[name] = await sides[name]();
  return results as T;
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

/** Times a hand-written side: `ctx.connections` clients applying `tasks` chunks (`runLanes`). */
export async function measureHandWritten(
  ctx: ScenarioContext,
  tasks: number,
  apply: (client: pg.PoolClient, task: number) => Promise<void>,
): Promise<ReferenceRun> {
  await startPhase(ctx);
  const seconds = await runLanes(ctx.env.pool, ctx.connections, tasks, apply);
  const cpu = await ctx.cpu.stop();
  return { items: ctx.members, seconds, rate: ctx.members / seconds, connections: ctx.connections, cpu };
}

export class BenchCheckError extends Error {
  override name = 'BenchCheckError';
  readonly code = 'bench_check_failed';
}

/** The bench refuses to report a rate for work that was not done right. */
export function expectEqual(what: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) throw new BenchCheckError(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}
