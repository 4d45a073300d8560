import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createSourceReader } from '../../src/metrics/metric-sources.js';

describe('scrape-time metric sources', () => {
  it('gives up on a source that does not answer, logs it and reports it down', async () => {
    const registry = new Registry();
    const logged: Array<{ source?: string; err?: { name?: string; message?: string } }> = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const read = createSourceReader(registry, logger, 50);

    const started = Date.now();
    await read('queues', () => new Promise(() => {}));
    await read('postgres', async () => {});
    expect(Date.now() - started).toBeLessThan(2_000);

    const text = await registry.metrics();
    expect(text).toContain('benefits_metrics_source_up{source="queues"} 0');
    expect(text).toContain('benefits_metrics_source_up{source="postgres"} 1');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ source: 'queues', err: { name: 'MetricsSourceError' } });
    expect(logged[0]?.err?.message).toMatch(/no answer within 50 ms/);
  });

  it('reports a failing source down with its cause', async () => {
    const registry = new Registry();
    const logged: Array<{ err?: { message?: string } }> = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    await createSourceReader(
      registry,
      logger,
      1_000,
    )('postgres', async () => {
      throw new Error('connection refused');
    });
    expect(await registry.metrics()).toContain('benefits_metrics_source_up{source="postgres"} 0');
    expect(logged[0]?.err?.message).toMatch(/connection refused/);
  });
});
