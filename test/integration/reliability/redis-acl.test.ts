import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../../support/harness.js';
import { expectLedgerConsistent } from '../../support/ledger-check.js';
import { type PrivateRedis, startPrivateRedis, stopChildren } from '../../support/processes.js';

// The README's recipe for raw BullMQ publishers: a Redis user limited to the operations queue's
// keys. Run on a redis-server of this file's own (ACLs are never set on the shared one).
let redis: PrivateRedis;
let h: Harness;
let admin: Redis;
let publisherUrl: string;
const opened: Array<{ close(): Promise<unknown> }> = [];

/** The README's `ACL SETUSER` line, for a queue prefix. */
const recipe = (prefix: string) => [
  'benefits-publisher',
  'reset',
  'on',
  '>publisher-secret',
  `~${prefix}:benefits-operations:*`,
  '-@all',
  '+@read',
  '+@write',
  '+@scripting',
  '-@dangerous',
  '+info',
  '+ping',
  '+client|setname',
];

beforeAll(async () => {
  redis = await startPrivateRedis();
  h = await startHarness('rel_redis_acl', { env: { REDIS_URL: redis.url } });
  admin = new Redis(redis.url);
  await admin.call('ACL', 'SETUSER', ...recipe(h.config.queuePrefix));
  publisherUrl = `redis://benefits-publisher:publisher-secret@127.0.0.1:${redis.port}`;
}, 60_000);
afterAll(async () => {
  for (const closable of opened) await closable.close().catch(() => {});
  admin?.disconnect();
  await h?.close();
  await redis?.dispose();
  await stopChildren();
});

const queueAs = (url: string, name: string) => {
  const queue = new Queue(name, { connection: { url }, prefix: h.config.queuePrefix });
  queue.on('error', () => {}); // refusals surface as the rejected calls checked below
  opened.push(queue);
  return queue;
};

describe('a Redis user limited to the operations queue', () => {
  it('publishes an operation that the service applies', async () => {
    const events = new QueueEvents('benefits-operations', {
      connection: { url: redis.url },
      prefix: h.config.queuePrefix,
    });
    opened.push(events);
    await events.waitUntilReady();
    const payload = {
      operationId: 'acl-assoc',
      kind: 'members.associate',
      enterpriseId: 'E-acl',
      memberIds: memberIds('acl', 150),
    };
    const job = await queueAs(publisherUrl, 'benefits-operations').add('operation', payload, {
      removeOnComplete: true,
    });
    await job.waitUntilFinished(events, 20_000);
    expect(await h.waitForOperation('acl-assoc')).toMatchObject({ status: 'completed', counts: { applied: 150 } });
    await expectLedgerConsistent(h.service.db, [{ operationId: 'acl-assoc', payload }]);
  }, 60_000);

  it('cannot touch the chunk queue, other keys or the server', async () => {
    const chunks = queueAs(publisherUrl, 'benefits-chunks');
    await expect(
      chunks.add('chunk', { operationId: 'forged', chunkIndex: 0, offset: 0, items: ['m'] }),
    ).rejects.toThrow(/NOPERM/);
    expect(await admin.keys(`${h.config.queuePrefix}:benefits-chunks:*`)).not.toContainEqual(
      expect.stringContaining('forged'),
    );

    const raw = new Redis(publisherUrl);
    try {
      const prefix = h.config.queuePrefix;
      for (const command of [
        ['GET', `${prefix}:benefits-chunks:meta`],
        ['DEL', `${prefix}:benefits-chunks:wait`],
        ['LPUSH', `${prefix}:benefits-chunks:wait`, 'forged'],
        ['HSET', `${prefix}:benefits-events:meta`, 'paused', '1'],
        ['EVAL', `return redis.call('DEL', KEYS[1])`, '1', `${prefix}:benefits-chunks:wait`],
        ['EVAL', `return redis.call('DEL', '${prefix}:benefits-chunks:meta')`, '0'],
        ['KEYS', '*'],
        ['FLUSHALL'],
        ['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru'],
        ['ACL', 'SETUSER', 'benefits-publisher', '~*'],
      ]) {
        await expect(raw.call(command[0]!, ...command.slice(1)), command.join(' ')).rejects.toThrow(
          // A script's own calls are checked too; Redis words that refusal differently.
          /NOPERM|permission|can't access/i,
        );
      }
    } finally {
      raw.disconnect();
    }
    expect(await admin.call('CONFIG', 'GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
  });
});
