import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChunkTransaction, type ChunkWork, type ReadRows } from '../../src/db/chunk-transaction.js';
import { findOperation } from '../../src/db/operations.repository.js';
import { createLogger } from '../../src/logger.js';
import type { ChunkJob } from '../../src/producers/contract.js';
import { applySharingSet } from '../../src/workers/appliers/member-chunk.applier.js';
import { createChunkProcessor } from '../../src/workers/chunk.processor.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';

// Member chunks read their members without locks and write each row only if its sequence is
// still the one read; when one moved, the chunk is rolled back and applied again with the rows
// locked. Workers stay off: chunk jobs are delivered by hand, so the way back is taken for certain.
let h: Harness;
let processChunk: (job: Job<unknown>) => Promise<unknown>;
const members = memberIds('guard', 100);

beforeAll(async () => {
  h = await startHarness('member_guard', { workers: false });
  processChunk = createChunkProcessor({ db: h.service.db, logger: createLogger('silent') });
  await runAll(await h.publish({ kind: 'members.associate', enterpriseId: 'E-guard', memberIds: members }));
});
afterAll(async () => h?.close());

async function chunkJob(operationId: string, chunkIndex: number): Promise<Job<ChunkJob>> {
  const job = await h.service.queues.chunks.getJob(`${operationId}-chunk-${chunkIndex}`);
  if (!job) throw new Error(`chunk ${chunkIndex} of ${operationId} is not on the queue`);
  return job as Job<ChunkJob>;
}

async function runAll(operationId: string) {
  const operation = await findOperation(h.service.db, operationId);
  for (let i = 0; i < (operation?.chunks_total ?? 0); i += 1) await processChunk(await chunkJob(operationId, i));
  return h.waitForOperation(operationId, 5_000);
}

describe('member chunks read without locks', () => {
  it('a chunk whose member moved between its read and its write is rolled back and applied again under locks', async () => {
    const operationId = await h.publish({
      kind: 'sharing.set',
      enterpriseId: 'E-guard',
      enabled: true,
      memberIds: members,
    });
    const operation = (await findOperation(h.service.db, operationId))!;
    const work = applySharingSet(operation, (await chunkJob(operationId, 0)).data);
    // Another writer moves one member's sequence after the read. The change is part of the
    // transaction that rolls back, so the fallback finds the member as it was; what shows is that
    // the fallback ran, and alone wrote.
    let fallbackRuns = 0;
    const moved: ChunkWork = {
      reads: [...work.reads, { text: `UPDATE members SET last_seq = last_seq + 1 WHERE member_id = '${members[42]}'` }],
      decide: (rows: ReadRows) => work.decide(rows),
      fallback: () => {
        const fallback = work.fallback!();
        return {
          ...fallback,
          decide(rows) {
            fallbackRuns += 1;
            return fallback.decide(rows);
          },
        };
      },
    };

    const result = await runChunkTransaction(h.service.db, { operationId, chunkIndex: 0 }, moved);

    expect(fallbackRuns).toBe(1);
    expect(result).toMatchObject({ claimed: true, applied: { counts: { applied: 100, rejected: 0 } } });
    const history = await h.service.db
      .selectFrom('sharing_history')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('operation_id', '=', operationId)
      .executeTakeFirstOrThrow();
    expect(Number(history.n)).toBe(100);
    const enabled = await h.service.db
      .selectFrom('members')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('member_id', 'in', members)
      .where('sharing_enabled', '=', true)
      .where('last_seq', '=', operation.seq)
      .executeTakeFirstOrThrow();
    expect(Number(enabled.n)).toBe(100);
  });

  it('without a fallback, the guard fails the chunk instead of writing over the moved member', async () => {
    const operationId = await h.publish({
      kind: 'sharing.set',
      enterpriseId: 'E-guard',
      enabled: false,
      memberIds: members,
    });
    const operation = (await findOperation(h.service.db, operationId))!;
    const work = applySharingSet(operation, (await chunkJob(operationId, 0)).data);
    const moved: ChunkWork = {
      reads: [...work.reads, { text: `UPDATE members SET last_seq = last_seq + 1 WHERE member_id = '${members[7]}'` }],
      decide: (rows: ReadRows) => work.decide(rows),
    };

    await expect(runChunkTransaction(h.service.db, { operationId, chunkIndex: 0 }, moved)).rejects.toMatchObject({
      code: 'BM001',
    });
    const history = await h.service.db
      .selectFrom('sharing_history')
      .select('member_id')
      .where('operation_id', '=', operationId)
      .execute();
    expect(history).toEqual([]);
  });
});
