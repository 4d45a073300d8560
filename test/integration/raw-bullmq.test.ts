import { Queue, QueueEvents } from 'bullmq';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operationJsonSchema } from '../../src/contract/json-schema.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { REDIS_URL } from '../support/servers.js';

// A foreign publisher: nothing from src/producers, only a BullMQ client, the queue name,
// the job name and a JSON payload, as the README documents them.
let h: Harness;
let queue: Queue;
let events: QueueEvents;
beforeAll(async () => {
  h = await startHarness('raw');
  const connection = { url: REDIS_URL };
  queue = new Queue('benefits-operations', { connection, prefix: h.config.queuePrefix });
  events = new QueueEvents('benefits-operations', { connection, prefix: h.config.queuePrefix });
  await events.waitUntilReady();
});
afterAll(async () => {
  await queue?.close();
  await events?.close();
  await h?.close();
});

describe('publishing straight onto the queue', () => {
  it('records and applies an operation on first sight', async () => {
    const ids = memberIds('raw', 230);
    const assoc = await queue.add(
      'operation',
      { operationId: 'raw-assoc-1', kind: 'members.associate', enterpriseId: 'E-raw', memberIds: ids },
      { removeOnComplete: true },
    );
    await assoc.waitUntilFinished(events, 10_000);
    expect(await h.waitForOperation('raw-assoc-1')).toMatchObject({
      status: 'completed',
      progress: { chunksTotal: 3, itemsDone: 230 },
      counts: { applied: 230 },
    });

    // No operationId: the service names it after the job.
    const set = await queue.add('operation', {
      kind: 'sharing.set',
      enterpriseId: 'E-raw',
      enabled: true,
      memberIds: ids.slice(0, 5),
    });
    await set.waitUntilFinished(events, 10_000);
    const view = await h.waitForOperation(`job-${set.id}`);
    expect(view).toMatchObject({ kind: 'sharing.set', status: 'completed', counts: { applied: 5 } });
    expect((await h.request('GET', `/v1/enterprises/E-raw/members/${ids[0]}`)).body.sharingEnabled).toBe(true);
  });

  it('publishing the same operation twice applies it once', async () => {
    const payload = {
      operationId: 'raw-twice',
      kind: 'sharing.set',
      enterpriseId: 'E-raw',
      enabled: false,
      memberIds: memberIds('raw', 3),
    };
    const first = await queue.add('operation', payload);
    const second = await queue.add('operation', payload);
    await Promise.all([first.waitUntilFinished(events, 10_000), second.waitUntilFinished(events, 10_000)]);
    const view = await h.waitForOperation('raw-twice');
    expect(view.counts).toMatchObject({ applied: 3, unchanged: 0 });
    const rows = await h.service.db
      .selectFrom('sharing_history')
      .select('member_id')
      .where('operation_id', '=', 'raw-twice')
      .execute();
    expect(rows).toHaveLength(3);
  });

  it('fails an invalid payload at once, without retries, naming the field, and records it rejected', async () => {
    const job = await queue.add(
      'operation',
      { operationId: 'raw-bad', kind: 'sharing.set', enterpriseId: 'E-raw', enabled: 'sometimes', memberIds: ['a'] },
      { attempts: 5, backoff: { type: 'fixed', delay: 10 } },
    );
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow(/enabled/);
    const failed = await queue.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(failed?.failedReason).toMatch(/enabled/);
    const view = (await h.request('GET', '/v1/operations/raw-bad')).body;
    expect(view).toMatchObject({ status: 'rejected', kind: 'sharing.set', error: { code: 'invalid_payload' } });
    expect(view.error.issues[0].path).toBe('enabled');
    const touched = await h.service.db.selectFrom('members').select('member_id').where('member_id', '=', 'a').execute();
    expect(touched).toHaveLength(0);
  });

  it('documents the payload as JSON Schema, kept in step with the code', async () => {
    const file = JSON.parse(await readFile(new URL('../../contract/operation.schema.json', import.meta.url), 'utf8'));
    expect(file).toEqual(operationJsonSchema());
    expect(file.oneOf.map((o: any) => o.properties.kind.const).sort()).toEqual([
      'coupons.allocate',
      'coupons.issue',
      'coupons.revoke',
      'members.associate',
      'members.dissociate',
      'packages.issue',
      'sharing.set',
      'sharing.set-default',
      'usage.settle',
    ]);
  });
});
