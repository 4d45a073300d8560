import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../src/contract/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startService } from '../../src/service.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { serviceEnv } from '../support/processes.js';
import { parsePrometheusText, type Sample, sampleValue } from '../support/prometheus-text.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('metrics');
});
afterAll(async () => h?.close());

async function scrape(harness: Harness): Promise<{ contentType: string | null; samples: Sample[] }> {
  const response = await fetch(`${harness.service.url}/metrics`);
  expect(response.status).toBe(200);
  return { contentType: response.headers.get('content-type'), samples: parsePrometheusText(await response.text()) };
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('GET /metrics', () => {
  it('counts chunks, items by outcome and rejections by reason as the operations report them', async () => {
    const members = memberIds('met', 240);
    // 250 items in 3 chunks: 240 members, then 10 of them again (rejected as duplicates).
    const associate = await h.waitForOperation(
      await h.publish({
        kind: 'members.associate',
        enterpriseId: 'E-met',
        memberIds: [...members, ...members.slice(0, 10)],
      }),
    );
    expect(associate).toMatchObject({
      status: 'completed_with_rejections',
      progress: { chunksTotal: 3 },
      counts: { applied: 240, rejected: 10 },
      rejectedByReason: { duplicate_item: 10 },
    });
    const enable = await h.waitForOperation(
      await h.publish({
        kind: 'sharing.set',
        enterpriseId: 'E-met',
        enabled: true,
        memberIds: [...members.slice(0, 5), 'met-stranger-1', 'met-stranger-2'],
      }),
    );
    const again = await h.waitForOperation(
      await h.publish({ kind: 'sharing.set', enterpriseId: 'E-met', enabled: true, memberIds: members.slice(0, 5) }),
    );
    expect(enable).toMatchObject({ status: 'completed_with_rejections', counts: { applied: 5, rejected: 2 } });
    expect(again).toMatchObject({ status: 'completed', counts: { unchanged: 5 } });

    const { contentType, samples } = await scrape(h);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels);

    expect(value('benefits_chunks_processed_total', { kind: 'members.associate', outcome: 'applied' })).toBe(3);
    expect(value('benefits_chunks_processed_total', { kind: 'sharing.set', outcome: 'applied' })).toBe(2);
    expect(value('benefits_chunks_processed_total', { kind: 'coupons.issue', outcome: 'applied' })).toBe(0);
    expect(value('benefits_chunk_duration_seconds_count', { kind: 'members.associate' })).toBe(3);
    expect(value('benefits_chunk_duration_seconds_bucket', { kind: 'members.associate', le: '+Inf' })).toBe(3);
    expect(value('benefits_chunk_duration_seconds_sum', { kind: 'members.associate' })).toBeGreaterThan(0);

    for (const outcome of ['applied', 'unchanged', 'superseded', 'rejected'] as const) {
      expect(value('benefits_items_total', { kind: 'members.associate', outcome }), outcome).toBe(
        associate.counts[outcome],
      );
    }
    const sharingCounts = { applied: 5, unchanged: 5, superseded: 0, rejected: 2 };
    for (const [outcome, n] of Object.entries(sharingCounts)) {
      expect(value('benefits_items_total', { kind: 'sharing.set', outcome }), outcome).toBe(n);
    }
    expect(value('benefits_items_rejected_total', { kind: 'members.associate', reason: 'duplicate_item' })).toBe(10);
    expect(value('benefits_items_rejected_total', { kind: 'sharing.set', reason: 'not_a_member' })).toBe(2);

    expect(value('benefits_operations', { kind: 'members.associate', status: 'completed_with_rejections' })).toBe(1);
    expect(value('benefits_operations', { kind: 'sharing.set', status: 'completed_with_rejections' })).toBe(1);
    expect(value('benefits_operations', { kind: 'sharing.set', status: 'completed' })).toBe(1);
    expect(value('benefits_operations', { kind: 'coupons.allocate', status: 'failed' })).toBe(0);
    expect(value('benefits_metrics_source_up', { source: 'postgres' })).toBe(1);
    expect(value('benefits_metrics_source_up', { source: 'queues' })).toBe(1);
    // prom-client's default process metrics, in the service's own registry.
    expect(value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'nodejs_heap_size_used_bytes')).toBe(true);
  });

  it('reports the depth of every queue by state, as BullMQ counts it at scrape', async () => {
    const { samples } = await scrape(h);
    for (const [key, name] of Object.entries(QUEUES)) {
      const counts = await h.service.queues[key as keyof typeof QUEUES].getJobCounts();
      expect(Object.keys(counts).length, name).toBeGreaterThan(0);
      for (const [state, n] of Object.entries(counts)) {
        expect(sampleValue(samples, 'benefits_queue_jobs', { queue: name, state }), `${name} ${state}`).toBe(n);
      }
      expect(sampleValue(samples, 'benefits_queue_paused', { queue: name }), name).toBe(0);
    }
    // Finished operations were announced on the outbound queue, which nothing here consumes.
    const announced = Object.values(await h.service.queues.events.getJobCounts()).reduce((a, b) => a + b, 0);
    expect(announced).toBeGreaterThan(0);
  });

  it('counts a job that fails for good, and the operation it recorded as rejected', async () => {
    const job = await h.service.queues.operations.add(
      'operation',
      { operationId: 'met-bad', kind: 'sharing.set', enterpriseId: 'E-met', enabled: 'sometimes', memberIds: ['x'] },
      { attempts: 5 },
    );
    await waitUntil('the invalid job to fail', async () => (await job.getState()) === 'failed');
    const { samples } = await scrape(h);
    expect(sampleValue(samples, 'benefits_jobs_failed_total', { queue: QUEUES.operations, final: 'true' })).toBe(1);
    expect(sampleValue(samples, 'benefits_jobs_failed_total', { queue: QUEUES.operations, final: 'false' })).toBe(0);
    expect(sampleValue(samples, 'benefits_operations', { kind: 'sharing.set', status: 'rejected' })).toBe(1);
  });

  it('keeps each service in its own registry', async () => {
    const other = await startHarness('metrics-other', { workers: false });
    try {
      const { samples } = await scrape(other);
      expect(
        sampleValue(samples, 'benefits_chunks_processed_total', { kind: 'members.associate', outcome: 'applied' }),
      ).toBe(0);
      expect(
        sampleValue(samples, 'benefits_operations', { kind: 'members.associate', status: 'completed_with_rejections' }),
      ).toBe(0);
    } finally {
      await other.close();
    }
    const { samples } = await scrape(h);
    expect(
      sampleValue(samples, 'benefits_chunks_processed_total', { kind: 'members.associate', outcome: 'applied' }),
    ).toBe(3);
  });

  it('a worker-only process with METRICS_PORT serves health and the chunks it applied', async () => {
    const api = await startHarness('metrics-worker', { workers: false });
    const env = serviceEnv(api.config, { METRICS_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' });
    const worker = await startService(loadConfig(env), createLogger('silent'), {
      api: false,
      workers: true,
      migrate: false,
    });
    try {
      expect(worker.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const members = memberIds('metw', 150);
      const view = await api.waitForOperation(
        await api.publish({ kind: 'members.associate', enterpriseId: 'E-metw', memberIds: members }),
      );
      expect(view).toMatchObject({ status: 'completed', progress: { chunksTotal: 2 } });
      const samples = parsePrometheusText(await (await fetch(`${worker.url}/metrics`)).text());
      const processed = { kind: 'members.associate', outcome: 'applied' };
      expect(sampleValue(samples, 'benefits_chunks_processed_total', processed)).toBe(2);
      expect(sampleValue(samples, 'benefits_items_total', processed)).toBe(150);
      expect((await fetch(`${worker.url}/readyz`)).status).toBe(200);
      expect((await fetch(`${worker.url}/healthz`)).status).toBe(200);
      // Health and metrics only: the API stays with the API processes.
      expect((await fetch(`${worker.url}/v1/operations/${view.operationId}`)).status).toBe(404);
    } finally {
      await worker.stop();
      await api.close();
    }
  });
});
