import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

/** VmRSS (now) and VmHWM (the process's peak so far), in bytes, from /proc. */
function memoryOf(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

interface Child {
  process: ChildProcess;
  exited: Promise<number | null>;
  /** Highest VmRSS sampled since the last `resetPeaks`. */
  sampledPeak: number;
  /** VmHWM as last read: the peak since the process started. */
  hwm: number;
}

export interface RssReport {
  /** Highest sampled RSS of any one worker process in the phase. */
  maxPerProcess: number;
  /** Sum over processes of each one's sampled peak in the phase. */
  sum: number;
  /** Highest VmHWM (kernel's high-water mark, since process start) of any one worker. */
  highWaterMark: number;
}

/**
 * The arguments of `npm run worker` after `node`: the bench starts its workers as they are
 * deployed (the Dockerfile and docker-compose.yml run the same script), flags included.
 */
function workerArguments(cwd: string): string[] {
  const scripts = (JSON.parse(readFileSync(`${cwd}/package.json`, 'utf8')) as { scripts: Record<string, string> })
    .scripts;
  // `exec` hands the shell's process to node, so signals reach it: not part of node's arguments.
  const [command, ...args] = (scripts.worker ?? '').replace(/^exec\s+/, '').split(/\s+/);
  if (command !== 'node' || args.length === 0)
    throw new Error(`the worker script of package.json is not "node …": ${scripts.worker}`);
  return args;
}

/**
 * Worker-only service processes (`npm run worker`, without npm in between), as deployed, so
 * their memory can be read from /proc without the bench's own heap in the figure.
 */
export class WorkerProcesses {
  readonly #children: Child[] = [];
  #sampler: NodeJS.Timeout | null = null;

  private constructor() {}

  static async start(
    count: number,
    env: Record<string, string>,
    cwd: string,
    nodeArgs: string[] = [],
  ): Promise<WorkerProcesses> {
    const workers = new WorkerProcesses();
    try {
      await Promise.all(Array.from({ length: count }, (_, i) => workers.#spawn(i, env, cwd, nodeArgs)));
    } catch (error) {
      await workers.stop();
      throw error;
    }
    workers.#sampler = setInterval(() => workers.sample(), 100);
    workers.#sampler.unref();
    return workers;
  }

  get pids(): number[] {
    return this.#children.flatMap((c) => (c.process.pid ? [c.process.pid] : []));
  }

  #spawn(index: number, env: Record<string, string>, cwd: string, nodeArgs: string[]): Promise<void> {
    const child = spawn(process.execPath, [...nodeArgs, ...workerArguments(cwd)], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Last resort when the bench dies without its clean-up: never leave a worker behind.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    void exited.then(() => process.off('exit', killOnExit));
    this.#children.push({ process: child, exited, sampledPeak: 0, hwm: 0 });
    child.stderr!.on('data', (data: Buffer) => process.stderr.write(`[worker ${index}] ${data}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker ${index} did not report ready within ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`worker ${index} exited with code ${code} before it was ready`));
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        let entry: { level?: number; msg?: string };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          process.stderr.write(`[worker ${index}] ${line}\n`);
          return;
        }
        if (entry.msg === 'benefits worker started') {
          clearTimeout(timer);
          resolve();
        } else if ((entry.level ?? 0) >= 40) {
          process.stderr.write(`[worker ${index}] ${line}\n`);
        }
      });
    });
  }

  /** Throws when a worker died: the bench would otherwise wait for its deadline. */
  assertAlive(): void {
    const dead = this.#children.findIndex((c) => c.process.exitCode !== null || c.process.signalCode !== null);
    if (dead >= 0) {
      const { exitCode, signalCode } = this.#children[dead]!.process;
      throw new Error(`worker ${dead} died (exit code ${exitCode}, signal ${signalCode})`);
    }
  }

  sample(): void {
    for (const child of this.#children) {
      const memory = child.process.pid ? memoryOf(child.process.pid) : null;
      if (!memory) continue;
      child.sampledPeak = Math.max(child.sampledPeak, memory.rss);
      child.hwm = Math.max(child.hwm, memory.hwm);
    }
  }

  resetPeaks(): void {
    for (const child of this.#children) child.sampledPeak = 0;
    this.sample();
  }

  peaks(): RssReport {
    this.sample();
    return {
      maxPerProcess: Math.max(0, ...this.#children.map((c) => c.sampledPeak)),
      sum: this.#children.reduce((n, c) => n + c.sampledPeak, 0),
      highWaterMark: Math.max(0, ...this.#children.map((c) => c.hwm)),
    };
  }

  /** SIGTERM (graceful: running chunks commit), SIGKILL after a grace period; idempotent. */
  async stop(): Promise<void> {
    if (this.#sampler) clearInterval(this.#sampler);
    this.#sampler = null;
    await Promise.all(
      this.#children.map(async (child) => {
        if (child.process.exitCode !== null || child.process.signalCode !== null) return;
        child.process.kill('SIGTERM');
        const timer = setTimeout(() => child.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await child.exited;
        clearTimeout(timer);
      }),
    );
  }
}
