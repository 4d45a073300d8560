import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type pg from 'pg';

/** CPU seconds spent during one phase, by who spent them. */
export interface CpuReport {
  /** The worker processes (user + system). */
  workers: number;
  /** The Postgres backends connected to the bench database (other databases' load is not counted). */
  postgres: number;
  /** This process: the hand-written reference's client side, the producer, the polling. */
  bench: number;
  /** The Redis server as a whole (it is shared, so other developers' use is included). */
  redis: number;
  /** The whole machine (every process and the kernel's own work: interrupts, the loopback network), from /proc/stat. */
  machine: number;
  /** The phase's wall time, so that `machine` reads as cores kept busy. */
  seconds: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** CPU seconds spent on `items` items, as milliseconds per 1,000 items. */
export const msPerThousand = (seconds: number, items: number) => (seconds * 1e6) / items;

function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself contain spaces: utime and stime are 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Non-idle CPU seconds of the whole machine since boot: the first line of /proc/stat, less idle and iowait. */
function machineSeconds(): number {
  // user nice system idle iowait irq softirq steal
  const ticks = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = [0, 1, 2, 5, 6, 7].reduce((total, i) => total + (ticks[i] ?? 0), 0);
  return busy / TICKS_PER_SECOND;
}

const sum = (pids: Iterable<number>, from: Map<number, number>) => {
  let total = 0;
  for (const pid of pids) total += from.get(pid) ?? 0;
  return total;
};

/**
 * Reads /proc for the workers and for the bench database's backends, INFO cpu for Redis. The
 * machine is shared and CPU-bound, so CPU seconds per item say more than wall time alone.
 */
export class CpuMeter {
  #start: { pids: Map<number, number>; bench: number; redis: number; machine: number; at: number } | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly databaseName: string,
    private readonly redis: Redis,
    private readonly workerPids: () => number[],
  ) {}

  /**
   * Every backend of the database, the one asking included: it is one of the pool's, which the
   * hand-written sides run on, and the pool hands out its most recently used client first, so
   * leaving it out at the start and the end of a phase left out the lane that had just worked (all
   * of a one-lane run's Postgres time: 0 ms where the machine spent a core).
   */
  async #backendPids(): Promise<number[]> {
    const { rows } = await this.pool.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname = $1`, [
      this.databaseName,
    ]);
    return rows.map((r) => r.pid);
  }

  async #redisSeconds(): Promise<number> {
    const info = await this.redis.info('cpu');
    const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    return field('used_cpu_user') + field('used_cpu_sys');
  }

  #snapshot(pids: readonly number[]): Map<number, number> {
    const seconds = new Map<number, number>();
    for (const pid of pids) {
      const s = cpuSeconds(pid);
      if (s !== null) seconds.set(pid, s);
    }
    return seconds;
  }

  #benchSeconds(): number {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) / 1e6;
  }

  async start(): Promise<void> {
    const pids = [...this.workerPids(), ...(await this.#backendPids())];
    this.#start = {
      pids: this.#snapshot(pids),
      bench: this.#benchSeconds(),
      redis: await this.#redisSeconds(),
      machine: machineSeconds(),
      at: performance.now(),
    };
  }

  async stop(): Promise<CpuReport> {
    const start = this.#start;
    if (!start) throw new Error('CpuMeter.stop() before start()');
    const workers = this.workerPids();
    // A backend opened during the phase counts from zero; one closed during it is lost (pools keep theirs).
    const backends = [
      ...new Set([...(await this.#backendPids()), ...[...start.pids.keys()].filter((p) => !workers.includes(p))]),
    ];
    const end = this.#snapshot([...workers, ...backends]);
    const machine = machineSeconds() - start.machine;
    const seconds = (performance.now() - start.at) / 1000;
    const delta = (pids: number[]) =>
      sum(pids, end) -
      sum(
        pids.filter((p) => end.has(p)),
        start.pids,
      );
    return {
      workers: delta(workers),
      postgres: delta(backends),
      bench: this.#benchSeconds() - start.bench,
      redis: (await this.#redisSeconds()) - start.redis,
      machine,
      seconds,
    };
  }
}
