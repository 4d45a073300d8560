import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChunkTransaction } from '../../src/operations/chunk-transaction.js';
import { findOperation } from '../../src/operations/operation-records.js';
import { sharingSet } from '../../src/kinds/sharing/sharing-set.kind.js';
import { chunksByHand, movedAfterRead } from '../support/chunks-by-hand.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { DEFAULT_APPLY_SETTINGS } from '../../src/kinds/kind.js';

// Member chunks read their members without locks and write each row only if its sequence is
// still the one read; when one moved, the chunk is rolled back and applied again with the rows
// locked. Workers stay off: chunk jobs are delivered by hand, so the way back is taken for certain.
let h: Harness;
let byHand: ReturnType<typeof chunksByHand>;
const members = memberIds('guard', 100);

beforeAll(async () => {
  h = await startHarness('member_guard', { workers: false });
  byHand = chunksByHand(h);
  await byHand.runAll(await h.publish({ kind: 'members.associate', enterpriseId: 'E-guard', memberIds: members }));
});
afterAll(async () => h?.close());

/** The first chunk of a new sharing.set over the members, with one member moved after its read. */
async function sharingChunkMovedAfterRead(enabled: boolean, movedMember: string) {
  const operationId = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-guard', enabled, memberIds: members });
  const operation = (await findOperation(h.service.db, operationId))!;
  const work = sharingSet.apply(operation, (await byHand.chunkJob(operationId, 0)).data, DEFAULT_APPLY_SETTINGS);
  const moved = movedAfterRead(work, `UPDATE members SET last_seq = last_seq + 1 WHERE member_id = '${movedMember}'`);
  return { operationId, operation, moved };
}

const historyRows = async (operationId: string) =>
  Number(
    (
      await h.service.db
        .selectFrom('sharing_history')
        .select(({ fn }) => fn.countAll<number>().as('n'))
        .where('operation_id', '=', operationId)
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('member chunks read without locks', () => {
  it('a chunk whose member moved between its read and its write is rolled back and applied again under locks', async () => {
    const { operationId, operation, moved } = await sharingChunkMovedAfterRead(true, members[42]!);

    const result = await runChunkTransaction(h.service.db, { operationId, chunkIndex: 0 }, moved.work);

    expect(moved.fallbackRuns()).toBe(1);
    expect(result).toMatchObject({ claimed: true, applied: { counts: { applied: 100, rejected: 0 } } });
    expect(await historyRows(operationId)).toBe(100);
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
    const { operationId, moved } = await sharingChunkMovedAfterRead(false, members[7]!);
    const { fallback: _none, ...withoutFallback } = moved.work;

    await expect(
      runChunkTransaction(h.service.db, { operationId, chunkIndex: 0 }, withoutFallback),
    ).rejects.toMatchObject({ code: 'BM001' });
    expect(await historyRows(operationId)).toBe(0);
  });
});
