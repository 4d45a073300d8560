import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProducer, type Producer } from '../../../src/producers/index.js';
import { type Harness, memberIds, startHarness } from '../../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../../support/ledger-check.js';
import { pollUntil, type PrivateRedis, startPrivateRedis, stopChildren } from '../../support/processes.js';
import { progressOf, waitForFinal, waitForProgress } from '../../support/progress.js';

// Fault: Redis goes away in the middle of a batch and comes back. The service runs against a
// redis-server of this file's own (other tests keep theirs). What production sees depends on
// Redis persistence, so both cases are run:
// 1. AOF on (`--appendonly yes`, as BullMQ's production guide recommends): the jobs survive the restart;
//    workers and producers reconnect by themselves and the batch finishes with nothing lost.
// 2. The data is lost (no persistence, or a failover to an empty replica): the operations' queued
//    chunks are gone, but Postgres holds their items; the workers' reconciler enqueues the
//    chunks neither applied nor queued, and every operation finishes with no publisher action.
// While Redis is down, publishers fail fast: HTTP 503 `queue_unavailable`, the library
// QueueUnavailableError, within the producer's 5 s connect timeout, and nothing is recorded. A
// publish caught in flight by the outage also gets 503; its operation may be recorded with its
// items, and the reconciler finishes it once Redis is back.
let redis: PrivateRedis;
let h: Harness;
let producer: Producer;
const { published, publish } = ledgerPublisher(() => h);
const members = memberIds('redis', 10_000);
// Small operations published around the moment Redis stops, each on members of its own.
const bystanders = memberIds('redis-by', 1_000);
beforeAll(async () => {
  redis = await startPrivateRedis({ appendonly: true });
  h = await startHarness('rel_redis', {
    env: {
      REDIS_URL: redis.url,
      WORKER_CONCURRENCY: '4',
      CHUNK_ATTEMPTS: '10',
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_GRACE_MS: '2000',
    },
  });
  producer = createProducer({
    databaseUrl: h.config.databaseUrl,
    redisUrl: redis.url,
    queuePrefix: h.config.queuePrefix,
    onError: () => {},
  });
  const assoc = await publish({
    operationId: 'redis-assoc',
    kind: 'members.associate',
    enterpriseId: 'E-redis',
    memberIds: [...members, ...bystanders],
  });
  await waitForFinal(h.service.db, [assoc]);
});
afterAll(async () => {
  // Closing BullMQ workers waits for Redis: make sure it is up whatever happened in the tests.
  await redis?.start();
  await producer?.close();
  await h?.close();
  await redis?.dispose();
  await stopChildren();
});

const timed = async <T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> => {
  const started = Date.now();
  const result = await work();
  return { ms: Date.now() - started, result };
};

interface InFlight {
  accepted: number;
  /** Refused while Redis was known to be down: nothing recorded. */
  refused: number;
  /** Caught mid-publish: recorded with its items, for the reconciler to finish. */
  interrupted: Array<Record<string, unknown>>;
}

/** Publishes small operations back to back while `outage` stops Redis; every answer must be 202 or 503. */
async function publishAcross(tag: string, offset: number, outage: () => Promise<void>): Promise<InFlight> {
  const result: InFlight = { accepted: 0, refused: 0, interrupted: [] };
  let stop = false;
  const loop = (async () => {
    for (let n = 0; !stop && n < 100; n += 1) {
      const payload = {
        operationId: `${tag}-inflight-${n}`,
        kind: 'sharing.set',
        enterpriseId: 'E-redis',
        enabled: n % 2 === 0,
        memberIds: bystanders.slice(offset + n * 5, offset + n * 5 + 5),
      };
      const response = await h.request('POST', '/v1/operations', payload);
      if (response.status === 202) {
        published.push({ operationId: payload.operationId, payload });
        result.accepted += 1;
        continue;
      }
      expect(response).toMatchObject({ status: 503, body: { error: 'queue_unavailable' } });
      if (await progressOf(h.service.db, payload.operationId)) {
        expect(response.body.message).toMatch(/recorded with its items and the workers will finish it/);
        published.push({ operationId: payload.operationId, payload });
        result.interrupted.push(payload);
      } else {
        result.refused += 1;
      }
      stop = true;
    }
  })();
  // Redis goes away while publishes are in flight: once the first has been accepted.
  await pollUntil('a publish accepted before the outage', async () => (result.accepted > 0 ? true : undefined), {
    intervalMs: 5,
  });
  await outage();
  stop = true;
  await loop;
  return result;
}

/** What publishers, probes and the database see while Redis is known to be down. */
async function expectFailFastWhileDown(tag: string): Promise<{ httpMs: number; libraryMs: number }> {
  const api = (h.service.queueBackend.producer as unknown as { redis: Redis }).redis;
  await pollUntil('the API to notice Redis is gone', async () => (api.status === 'ready' ? undefined : true), {
    timeoutMs: 10_000,
    intervalMs: 10,
  });
  const body = {
    operationId: `${tag}-refused-http`,
    kind: 'sharing.set',
    enterpriseId: 'E-redis',
    enabled: true,
    memberIds: members.slice(0, 10),
  };
  const [http, library, ready, health] = await Promise.all([
    timed(() => h.request('POST', '/v1/operations', body)),
    timed(() =>
      producer.publish({ ...body, operationId: `${tag}-refused-lib` } as never).then(
        () => null,
        (error: unknown) => error,
      ),
    ),
    h.request('GET', '/readyz'),
    h.request('GET', '/healthz'),
  ]);
  expect(http.result).toMatchObject({
    status: 503,
    body: { error: 'queue_unavailable', message: expect.stringMatching(/Redis is not reachable/) },
  });
  expect(library.result).toMatchObject({ name: 'QueueUnavailableError', code: 'queue_unavailable' });
  // Bounded by the 5 s connect timeout, with room for a slow machine; never a hang.
  expect(http.ms).toBeLessThan(10_000);
  expect(library.ms).toBeLessThan(10_000);
  expect(ready).toMatchObject({
    status: 503,
    body: { checks: { postgres: 'ok', redis: expect.stringMatching(/^unreachable/) } },
  });
  expect(health.status).toBe(200);
  for (const id of [`${tag}-refused-http`, `${tag}-refused-lib`])
    expect(await progressOf(h.service.db, id)).toBeUndefined();
  return { httpMs: http.ms, libraryMs: library.ms };
}

describe('Redis restarted during a batch', () => {
  it('with AOF: workers and producers reconnect, and the batch finishes with nothing lost', async () => {
    const sharing = await publish({
      operationId: 'redis-enable',
      kind: 'sharing.set',
      enterpriseId: 'E-redis',
      enabled: true,
      memberIds: members,
    });
    const atStop = await waitForProgress(h.service.db, sharing, (p) => p.chunksDone >= 10, {
      timeoutMs: 60_000,
      intervalMs: 10,
    });
    const downAt = Date.now();
    const inFlight = await publishAcross('aof', 0, () => redis.stop());
    const failFast = await expectFailFastWhileDown('aof');
    await redis.start({ appendonly: true });
    const downMs = Date.now() - downAt;
    expect(atStop.final).toBe(false);

    // The queued chunks survived; the publishes cut off mid-way are finished by the reconciler.
    await waitForFinal(
      h.service.db,
      published.map((p) => p.operationId),
      120_000,
    );
    // Producers are back too: the library and HTTP publish again without being recreated.
    const after = {
      kind: 'sharing.set',
      enterpriseId: 'E-redis',
      enabled: false,
      memberIds: members.slice(0, 500),
    } as const;
    const viaLibrary = await producer.publish({ operationId: 'redis-after-lib', ...after });
    published.push({ operationId: viaLibrary.operationId, payload: after });
    // The two touch the same members: the ledger's fault-free model applies them one after the
    // other, and so must the test, or a chunk of the later one can overtake the earlier one's.
    await waitForFinal(h.service.db, [viaLibrary.operationId], 60_000);
    const viaHttp = await publish({
      operationId: 'redis-after-http',
      kind: 'sharing.set',
      enterpriseId: 'E-redis',
      enabled: true,
      memberIds: members.slice(0, 300),
    });
    await waitForFinal(h.service.db, [viaHttp], 60_000);

    const report = await expectLedgerConsistent(h.service.db, published);
    console.info(
      `[reliability] Redis restart (AOF): stopped at ${atStop.chunksDone}/${atStop.chunksTotal} chunks, down ${downMs} ms; ` +
        `publishes in flight: ${inFlight.accepted} accepted, ${inFlight.interrupted.length} cut off (recorded, finished by the reconciler), ` +
        `${inFlight.refused} refused; while down HTTP answered 503 in ${failFast.httpMs} ms and the library threw ` +
        `QueueUnavailableError in ${failFast.libraryMs} ms; ledger ${JSON.stringify(report)}`,
    );
  }, 240_000);

  it('with its data lost: the reconciler enqueues the lost chunks from Postgres, and each item applies once', async () => {
    const sharing = await publish({
      operationId: 'redis-disable',
      kind: 'sharing.set',
      enterpriseId: 'E-redis',
      enabled: false,
      memberIds: members,
    });
    const atStop = await waitForProgress(h.service.db, sharing, (p) => p.chunksDone >= 10, {
      timeoutMs: 60_000,
      intervalMs: 10,
    });
    const inFlight = await publishAcross('lost', 500, () => redis.stop());
    await expectFailFastWhileDown('lost');
    const atRestart = await progressOf(h.service.db, sharing);
    await redis.start({ appendonly: false, fresh: true });

    // Its queued chunks went with the data; nobody publishes anything again.
    expect(atRestart!.final).toBe(false);
    await waitForFinal(
      h.service.db,
      published.map((p) => p.operationId),
      120_000,
    );

    const report = await expectLedgerConsistent(h.service.db, published);
    console.info(
      `[reliability] Redis data lost: stopped at ${atStop.chunksDone}/100 chunks, restarted empty at ${atRestart!.chunksDone}/100; ` +
        `publishes in flight: ${inFlight.accepted} accepted, ${inFlight.interrupted.length} cut off, ${inFlight.refused} refused; ` +
        `all completed with no publisher action; ledger ${JSON.stringify(report)}`,
    );
  }, 240_000);
});
