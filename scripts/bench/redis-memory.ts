import { Redis } from 'ioredis';

export interface RedisMemoryReport {
  /** used_memory when the phase started. */
  baseline: number;
  /** The highest used_memory sampled during the phase. */
  peakUsed: number;
  /** used_memory_peak as INFO reported it at that sample (server-wide, since Redis started). */
  serverPeakAtSample: number;
}

function field(info: string, name: string): number {
  return Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
}

/**
 * Samples INFO memory a few times a second. The Redis server is shared with other developers'
 * tests, so the baseline and the sampled peak are what say something about this run;
 * used_memory_peak is reported as Redis gives it.
 */
export class RedisMemorySampler {
  readonly #redis: Redis;
  #timer: NodeJS.Timeout | null = null;
  #report: RedisMemoryReport = { baseline: 0, peakUsed: 0, serverPeakAtSample: 0 };
  #inFlight: Promise<void> | null = null;

  constructor(url: string) {
    this.#redis = new Redis(url, { maxRetriesPerRequest: 1 });
    this.#redis.on('error', () => {});
  }

  async #sample(): Promise<void> {
    const info = await this.#redis.info('memory');
    const used = field(info, 'used_memory');
    if (used >= this.#report.peakUsed) {
      this.#report.peakUsed = used;
      this.#report.serverPeakAtSample = field(info, 'used_memory_peak');
    }
  }

  async start(): Promise<void> {
    await this.stop();
    const info = await this.#redis.info('memory');
    const used = field(info, 'used_memory');
    this.#report = { baseline: used, peakUsed: used, serverPeakAtSample: field(info, 'used_memory_peak') };
    this.#timer = setInterval(() => {
      this.#inFlight ??= this.#sample()
        .catch(() => {})
        .finally(() => {
          this.#inFlight = null;
        });
    }, 100);
  }

  async stop(): Promise<RedisMemoryReport> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#inFlight;
    return { ...this.#report };
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#redis.disconnect();
  }
}
