import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CHUNKS_PER_JOB } from '../../src/domain/chunk-plan.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';

// The default body limit (16 MiB) takes a 200,000-member operation in one request (SPEC §5).
// Workers stay off: this is about accepting and splitting the batch, not applying it.
let h: Harness;
beforeAll(async () => {
  h = await startHarness('large_publish', { workers: false });
});
afterAll(async () => h?.close());

describe('POST /v1/operations with 200,000 members', () => {
  it('is accepted in one request and split into 2,000 chunks, ten to a job', async () => {
    const ids = memberIds('big', 200_000);
    const body = JSON.stringify({ kind: 'sharing.set', enterpriseId: 'E-big', enabled: true, memberIds: ids });
    expect(body.length).toBeGreaterThan(2_000_000);
    const response = await h.service.app!.inject({
      method: 'POST',
      url: '/v1/operations',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${h.adminKey}` },
      payload: body,
    });
    expect(response.statusCode).toBe(202);
    const { operationId } = response.json();
    const view = await h.request('GET', `/v1/operations/${operationId}`);
    expect(view.body).toMatchObject({
      status: 'queued',
      progress: { chunksDone: 0, chunksTotal: 2_000, itemsTotal: 200_000 },
    });
    const counts = await h.service.queues.chunks.getJobCounts('waiting', 'prioritized', 'delayed');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(2_000 / MAX_CHUNKS_PER_JOB);
    const [first] = await h.service.queues.chunks.getJobs(['waiting', 'prioritized'], 0, 0, true);
    expect(first?.data).toMatchObject({ operationId, chunkIndex: 0, offset: 0 });
    expect(first?.data.items).toHaveLength(100 * MAX_CHUNKS_PER_JOB);
  }, 120_000);
});
