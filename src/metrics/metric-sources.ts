import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logger.js';

/** A source of scrape-time values (Postgres, the queue store) that did not answer in time or failed. */
export class MetricsSourceError extends Error {
  override name = 'MetricsSourceError';
  readonly code = 'metrics_source_unavailable';
  constructor(
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`metrics source ${source}: ${message}`, options);
  }
}

export type SourceReader = (source: string, read: () => Promise<void>) => Promise<void>;

/**
 * Runs the reads a scrape needs, each bounded in time: the administration queues wait out an
 * outage of the queue store forever, and a scrape should rather answer without the queue gauges
 * than not at all. A failed read is logged and shows as `benefits_metrics_source_up{source} 0`.
 */
export function createSourceReader(registry: Registry, logger: Logger, timeoutMs: number): SourceReader {
  const up = new Gauge({
    name: 'benefits_metrics_source_up',
    help: '1 when the last scrape could read this source (postgres: operations, queues: the queue store), else 0',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  return async (source, read) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MetricsSourceError(source, `no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([read(), timeout]);
      up.labels(source).set(1);
    } catch (error) {
      up.labels(source).set(0);
      const wrapped =
        error instanceof MetricsSourceError ? error : new MetricsSourceError(source, String(error), { cause: error });
      logger.error({ err: wrapped, source }, 'metrics: could not read a source at scrape');
    } finally {
      clearTimeout(timer);
    }
  };
}
