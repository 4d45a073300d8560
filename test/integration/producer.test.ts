import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '../../src/producers/index.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { REDIS_URL } from '../support/servers.js';

let h: Harness;
let producer: Producer;
beforeAll(async () => {
  h = await startHarness('producer');
  producer = createProducer({
    databaseUrl: h.isolated.databaseUrl,
    redisUrl: REDIS_URL,
    queuePrefix: h.config.queuePrefix,
  });
});
afterAll(async () => {
  await producer?.close();
  await h?.close();
});

describe('the producer library', () => {
  it('returns the operationId at once and the operation can be awaited', async () => {
    const ids = memberIds('lib', 10);
    const published = await producer.publish({ kind: 'members.associate', enterpriseId: 'E-lib', memberIds: ids });
    expect(published).toMatchObject({ status: 'queued', created: true });
    expect(published.operationId).toMatch(/^[0-9a-f-]{36}$/);
    const done = await producer.waitForOperation(published.operationId, { timeoutMs: 10_000, intervalMs: 50 });
    expect(done).toMatchObject({ status: 'completed', counts: { applied: 10 } });
    expect(
      (
        await producer.publish({
          operationId: published.operationId,
          kind: 'members.associate',
          enterpriseId: 'E-lib',
          memberIds: ids,
        })
      ).created,
    ).toBe(false);
  });

  it('refuses an invalid operation before anything is recorded', async () => {
    await expect(
      producer.publish({ kind: 'sharing.set', enterpriseId: 'E-lib', enabled: true, memberIds: [] } as never),
    ).rejects.toMatchObject({ code: 'invalid_payload', issues: [{ path: 'memberIds' }] });
  });

  it('fails fast with a clear error when Redis is unreachable', async () => {
    const offline = createProducer({
      databaseUrl: h.isolated.databaseUrl,
      redisUrl: 'redis://127.0.0.1:1',
      queuePrefix: h.config.queuePrefix,
      onError: () => {},
    });
    try {
      const started = Date.now();
      await expect(
        offline.publish({ kind: 'sharing.set-default', enterpriseId: 'E-offline', shareWithNewMembers: true }),
      ).rejects.toMatchObject({ code: 'queue_unavailable', message: expect.stringMatching(/Redis is not reachable/) });
      expect(Date.now() - started).toBeLessThan(10_000);
      const recorded = await h.service.db
        .selectFrom('enterprises')
        .select('enterprise_id')
        .where('enterprise_id', '=', 'E-offline')
        .execute();
      expect(recorded).toHaveLength(0);
    } finally {
      await offline.close();
    }
  });
});
