import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/logger.js';
import { type Service, startService } from '../../../src/service.js';
import { type ChunkResult, createChunkProcessor } from '../../../src/workers/chunk.processor.js';
import { type Harness, memberIds, startHarness } from '../../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../../support/ledger-check.js';
import { serviceEnv } from '../../support/processes.js';

// Fault: the same chunk is delivered twice at the same moment — a lock lost to a long GC pause
// while another worker already took the job over, a publisher re-adding chunks under other ids,
// a queue replayed after a failover. Both deliveries run; the chunk must be applied once.
let h: Harness;
let second: Service | undefined;
const { published, publish } = ledgerPublisher(() => h);
beforeAll(async () => {
  // No workers here: the first test runs the processor itself; the second starts two services.
  h = await startHarness('rel_dupes', { workers: false });
});
afterAll(async () => {
  await second?.stop();
  await h?.close();
});

const coupon = (couponId: string) => ({
  couponId,
  faceValue: '90000.00',
  allocationMode: 'multiple',
  validFrom: new Date(Date.now() - 86_400_000).toISOString(),
  validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(),
  products: ['ecs'],
});
const chunkIndexOf = (job: Job) => (job.data as { chunkIndex: number }).chunkIndex;

const HOUR = 3_600_000;
/** A master package that runs out partway, and a unit of own package for each of the first 20 members. */
const packages = (prefix: string, ids: string[]) => ({
  validFrom: new Date(Date.now() - 240 * HOUR).toISOString(),
  validUntil: new Date(Date.now() + 240 * HOUR).toISOString(),
  list(): Record<string, unknown>[] {
    const terms = { product: 'ecs', unit: 'GB', validFrom: this.validFrom, validUntil: this.validUntil };
    return [
      { packageId: `${prefix}-master`, owner: 'master', quantity: '250.5', ...terms },
      ...ids.slice(0, 20).map((owner, i) => ({ packageId: `${prefix}-own-${i}`, owner, quantity: '1', ...terms })),
    ];
  },
});
/**
 * `count` usage records over the members (a tenth for a product nothing covers), the last five
 * repeating earlier ones: every tier, pay-as-you-go and `duplicate_item` across chunks.
 */
const records = (prefix: string, ids: string[], count: number) => {
  const list = Array.from({ length: count - 5 }, (_, i) => ({
    recordId: `${prefix}-r-${i}`,
    memberId: ids[i % ids.length]!,
    product: i % 10 === 9 ? 'obs' : 'ecs',
    quantity: ['0.75', '1', '0.333333'][i % 3]!,
    amount: `${1 + (i % 9)}.${String((i * 7) % 100).padStart(2, '0')}`,
    usedAt: new Date(Date.now() - (1 + (i % 3)) * HOUR).toISOString(),
  }));
  return [...list, ...list.slice(0, 5)];
};
const allocations = (ids: string[]) => ids.map((memberId, i) => ({ memberId, amount: `${2 + (i % 3)}.50` }));

describe('the same chunk delivered twice at once', () => {
  it('processor run twice concurrently on every chunk job: one applies, the other finds it applied', async () => {
    const processor = createChunkProcessor({ db: h.service.db, logger: createLogger('silent') });
    const outcomes = { applied: 0, already_applied: 0, other: 0 };
    // Takes every chunk job off the queue, in the order they were added, and runs each twice at
    // the same moment. (Jobs of an allocation after its first wait delayed for the one before.)
    const drainTwice = async () => {
      const jobs = ((await h.service.queues.chunks.getJobs(['waiting', 'delayed'], 0, -1)) as Job[]).sort(
        (a, b) => a.timestamp - b.timestamp || chunkIndexOf(a) - chunkIndexOf(b),
      );
      for (const job of jobs) {
        const results = await Promise.all([processor(job), processor(job)]);
        for (const result of results.flat()) {
          if (result.outcome === 'applied' || result.outcome === 'already_applied') outcomes[result.outcome] += 1;
          else outcomes.other += 1;
        }
        await job.remove();
      }
    };
    const members = memberIds('dup', 5_000);
    await publish({ operationId: 'dup-assoc', kind: 'members.associate', enterpriseId: 'E-dup', memberIds: members });
    await publish({
      operationId: 'dup-issue',
      kind: 'coupons.issue',
      enterpriseId: 'E-dup',
      coupons: [coupon('C-dup')],
    });
    await drainTwice();
    await publish({
      operationId: 'dup-enable',
      kind: 'sharing.set',
      enterpriseId: 'E-dup',
      enabled: true,
      memberIds: members,
    });
    await publish({
      operationId: 'dup-allocate',
      kind: 'coupons.allocate',
      enterpriseId: 'E-dup',
      couponId: 'C-dup',
      allocations: allocations(members.slice(0, 2_000)),
    });
    await publish({
      operationId: 'dup-packages',
      kind: 'packages.issue',
      enterpriseId: 'E-dup',
      packages: packages('P-dup', members).list(),
    });
    await publish({
      operationId: 'dup-settle',
      kind: 'usage.settle',
      enterpriseId: 'E-dup',
      records: records('dup', members.slice(0, 2_500), 1_000),
    });
    await drainTwice();

    const chunks = 50 + 1 + 50 + 20 + 1 + 10;
    expect(outcomes).toEqual({ applied: chunks, already_applied: chunks, other: 0 });
    const report = await expectLedgerConsistent(h.service.db, published);
    console.info(
      `[reliability] duplicate delivery (processor ×2): ${JSON.stringify(outcomes)}; ledger ${JSON.stringify(report)}`,
    );
  }, 120_000);

  it('two worker pools on one database and prefix, every chunk job enqueued twice under two ids', async () => {
    const harnessWorkers = await startService(h.config, createLogger('silent'), {
      api: false,
      workers: true,
      migrate: false,
    });
    second = await startService(
      loadConfig({ ...serviceEnv(h.config), WORKER_CONCURRENCY: '4', LOG_LEVEL: 'silent' }),
      createLogger('silent'),
      {
        api: false,
        workers: true,
        migrate: false,
      },
    );
    try {
      const outcomes: Record<string, number> = {};
      for (const service of [harnessWorkers, second]) {
        service.workers!.chunks.on('completed', (_job, results: ChunkResult[]) => {
          for (const result of results) outcomes[result.outcome] = (outcomes[result.outcome] ?? 0) + 1;
        });
      }
      const queue = h.service.queues.chunks;
      const members = memberIds('dup2', 6_000);
      await h.waitForOperation(
        await publish({
          operationId: 'dup2-assoc',
          kind: 'members.associate',
          enterpriseId: 'E-dup2',
          memberIds: members,
        }),
        60_000,
      );
      await h.waitForOperation(
        await publish({
          operationId: 'dup2-issue',
          kind: 'coupons.issue',
          enterpriseId: 'E-dup2',
          coupons: [coupon('C-dup2')],
        }),
      );
      for (const key of Object.keys(outcomes)) delete outcomes[key];

      // Paused while publishing, so each chunk and its copy sit side by side in the queue and the
      // two pools take them at the same moment.
      await queue.pause();
      const sharing = await publish({
        operationId: 'dup2-enable',
        kind: 'sharing.set',
        enterpriseId: 'E-dup2',
        enabled: true,
        memberIds: members,
      });
      const allocate = await publish({
        operationId: 'dup2-allocate',
        kind: 'coupons.allocate',
        enterpriseId: 'E-dup2',
        couponId: 'C-dup2',
        allocations: allocations(members.slice(0, 3_000)),
      });
      const issue = await publish({
        operationId: 'dup2-packages',
        kind: 'packages.issue',
        enterpriseId: 'E-dup2',
        packages: packages('P-dup2', members).list(),
      });
      const settle = await publish({
        operationId: 'dup2-settle',
        kind: 'usage.settle',
        enterpriseId: 'E-dup2',
        records: records('dup2', members.slice(0, 4_000), 1_500),
      });
      const originals = (await queue.getJobs(['waiting', 'delayed'], 0, -1)) as Job[];
      expect(originals).toHaveLength(60 + 30 + 1 + 15);
      await queue.addBulk(
        // A copy of a job waiting for the one before it is not delayed: it finds its turn itself.
        originals.map((job) => ({
          name: job.name,
          data: job.data,
          opts: { ...job.opts, delay: 0, jobId: `${job.id}-copy` },
        })),
      );
      await queue.resume();

      const views = await Promise.all([sharing, allocate, issue, settle].map((id) => h.waitForOperation(id, 120_000)));
      expect(views.map((v) => v.status)).toEqual(['completed', 'completed', 'completed', 'completed_with_rejections']);
      // Every copy has to be taken off the queue before the counts are final.
      const deadline = Date.now() + 60_000;
      while ((outcomes.applied ?? 0) + (outcomes.already_applied ?? 0) < 212 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(outcomes).toEqual({ applied: 106, already_applied: 106 });
      const report = await expectLedgerConsistent(h.service.db, published);
      console.info(
        `[reliability] duplicate delivery (two pools, 106 chunks ×2): ${JSON.stringify(outcomes)}; ledger ${JSON.stringify(report)}`,
      );
    } finally {
      await harnessWorkers.stop();
    }
  }, 180_000);
});
