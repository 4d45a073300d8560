import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyKindSpec } from '../../src/kinds/index.js';
import { runChunkTransaction } from '../../src/operations/chunk-transaction.js';
import { findOperation, settleStatus } from '../../src/operations/operation-records.js';
import { sharingSetDefault } from '../../src/kinds/sharing/set-default.kind.js';
import { sharingSet } from '../../src/kinds/sharing/sharing-set.kind.js';
import { chunksByHand, sortedOutcomes } from '../support/chunks-by-hand.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { DEFAULT_APPLY_SETTINGS } from '../../src/kinds/kind.js';

// Workers stay off in this file: the tests deliver chunk jobs by hand, twice, in the order they choose.
let h: Harness;
let byHand: ReturnType<typeof chunksByHand>;
beforeAll(async () => {
  h = await startHarness('idempotency', { workers: false });
  byHand = chunksByHand(h);
});
afterAll(async () => h?.close());

const processChunk = (job: Job) => byHand.processChunk(job);
const chunkJob = (operationId: string, chunkIndex: number) => byHand.chunkJob(operationId, chunkIndex);
const runAll = (operationId: string) => byHand.runAll(operationId);

async function historyCount(operationId: string) {
  const row = await h.service.db
    .selectFrom('sharing_history')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('operation_id', '=', operationId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe('re-publishing an operation', () => {
  it('the same payload again has no second effect; a different payload is a conflict', async () => {
    const body = {
      operationId: 'assoc-once',
      kind: 'members.associate',
      enterpriseId: 'E-idem',
      memberIds: ['i-1', 'i-2'],
    };
    const first = await h.request('POST', '/v1/operations', body);
    expect(first).toMatchObject({ status: 202, body: { operationId: 'assoc-once', status: 'queued' } });
    await runAll('assoc-once');

    // Key order differs: still the same payload.
    const again = await h.request('POST', '/v1/operations', {
      memberIds: ['i-1', 'i-2'],
      enterpriseId: 'E-idem',
      kind: 'members.associate',
      operationId: 'assoc-once',
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ operationId: 'assoc-once', status: 'completed', counts: { applied: 2 } });
    expect(await historyCount('assoc-once')).toBe(2);

    const conflict = await h.request('POST', '/v1/operations', { ...body, memberIds: ['i-1'] });
    expect(conflict).toMatchObject({ status: 409, body: { error: 'idempotency_conflict' } });
  });
});

describe('duplicate delivery of a chunk', () => {
  it('two deliveries at once and a third one later write each history row once', async () => {
    const ids = memberIds('dup', 250);
    const assocId = await h.publish({ kind: 'members.associate', enterpriseId: 'E-dup', memberIds: ids });
    await runAll(assocId);

    const operationId = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-dup', enabled: true, memberIds: ids });
    const job = await chunkJob(operationId, 1);
    const results = await Promise.all([processChunk(job), processChunk(job)]);
    expect(sortedOutcomes(results)).toEqual(['already_applied', 'applied']);
    expect(await processChunk(job)).toEqual([{ outcome: 'already_applied' }]);

    await processChunk(await chunkJob(operationId, 0));
    await processChunk(await chunkJob(operationId, 2));
    await processChunk(await chunkJob(operationId, 2));
    const done = await h.waitForOperation(operationId, 5_000);
    expect(done).toMatchObject({
      status: 'completed',
      counts: { applied: 250, unchanged: 0, rejected: 0 },
      progress: { chunksDone: 3, chunksTotal: 3, itemsDone: 250 },
    });
    expect(await historyCount(operationId)).toBe(250);
  });
});

describe('a worker that dies between the last chunk commit and settling the operation', () => {
  it('a redelivery of any chunk settles it', async () => {
    const ids = memberIds('unsettled', 150);
    const assocId = await h.publish({ kind: 'members.associate', enterpriseId: 'E-unsettled', memberIds: ids });
    await runAll(assocId);
    const operationId = await h.publish({
      kind: 'sharing.set',
      enterpriseId: 'E-unsettled',
      enabled: true,
      memberIds: ids,
    });
    await runAll(operationId);

    // The state such a crash leaves: every chunk committed and counted, the status not yet final.
    await h.service.db
      .updateTable('operations')
      .set({ status: 'running', finished_at: null })
      .where('operation_id', '=', operationId)
      .execute();
    const view = async () => (await h.request('GET', `/v1/operations/${operationId}`)).body;
    expect(await view()).toMatchObject({ status: 'running', progress: { chunksDone: 2, itemsDone: 150 } });

    expect(await processChunk(await chunkJob(operationId, 0))).toEqual([{ outcome: 'already_applied' }]);
    expect(await view()).toMatchObject({
      status: 'completed',
      counts: { applied: 150, unchanged: 0, rejected: 0 },
      progress: { chunksDone: 2, chunksTotal: 2, itemsDone: 150 },
    });
    expect(await historyCount(operationId)).toBe(150);
  });
});

describe('publication order', () => {
  it("a later operation's chunk waits while an earlier one it depends on is unfinished", async () => {
    const ids = memberIds('wait', 120);
    await runAll(await h.publish({ kind: 'members.associate', enterpriseId: 'E-wait', memberIds: ids }));
    const enable = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-wait', enabled: true, memberIds: ids });
    const disable = await h.publish({
      kind: 'sharing.set',
      enterpriseId: 'E-wait',
      enabled: false,
      memberIds: ids.slice(0, 60),
    });

    // Delivered before the earlier operation ran, the later one's chunk does not apply.
    await expect(processChunk(await chunkJob(disable, 0))).rejects.toThrow(`must wait for ${enable}`);
    expect((await h.request('GET', `/v1/operations/${disable}`)).body).toMatchObject({
      status: 'queued',
      progress: { chunksDone: 0 },
      waitingFor: [enable],
    });
    expect(await historyCount(disable)).toBe(0);

    expect((await runAll(enable)).counts).toMatchObject({ applied: 120, superseded: 0 });
    const disabled = await runAll(disable);
    expect(disabled).toMatchObject({ counts: { applied: 60, unchanged: 0, superseded: 0 }, waitingFor: [] });
    const history = await h.request('GET', `/v1/enterprises/E-wait/members/${ids[0]}/sharing-history`);
    expect(history.body.items.slice(0, 2)).toMatchObject([
      { operationId: disable, outcome: 'applied', sharingBefore: true, sharingAfter: false },
      { operationId: enable, outcome: 'applied', sharingBefore: false, sharingAfter: true },
    ]);
  });

  // Publication order makes a later operation wait for an earlier one it depends on; what remains
  // is an earlier operation applied after a later one anyway (a failed operation retried late).
  // Its chunks then go past the wait (run here without the processor), and the sequences guard.
  it('an earlier operation applied after a later one is superseded and overwrites nothing', async () => {
    const ids = memberIds('ord', 120);
    await runAll(await h.publish({ kind: 'members.associate', enterpriseId: 'E-ord', memberIds: ids }));

    const enable = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-ord', enabled: true, memberIds: ids });
    const disable = await h.publish({
      kind: 'sharing.set',
      enterpriseId: 'E-ord',
      enabled: false,
      memberIds: ids.slice(0, 60),
    });
    // The later publication is applied first.
    const disabled = await applyPastTheWait(disable, sharingSet);
    expect(disabled.counts).toMatchObject({ unchanged: 60 });
    const enabled = await applyPastTheWait(enable, sharingSet);
    expect(enabled).toMatchObject({ status: 'completed', counts: { applied: 60, superseded: 60, rejected: 0 } });

    const first = await h.request('GET', `/v1/enterprises/E-ord/members/${ids[0]}`);
    const last = await h.request('GET', `/v1/enterprises/E-ord/members/${ids[119]}`);
    expect(first.body.sharingEnabled).toBe(false);
    expect(last.body.sharingEnabled).toBe(true);
    const history = await h.request('GET', `/v1/enterprises/E-ord/members/${ids[0]}/sharing-history`);
    expect(history.body.items.slice(0, 2)).toMatchObject([
      { operationId: enable, outcome: 'superseded', sharingBefore: false, sharingAfter: false },
      { operationId: disable, outcome: 'unchanged' },
    ]);
  });

  it('an older switch change applied late leaves the newer one in place', async () => {
    const on = await h.publish({ kind: 'sharing.set-default', enterpriseId: 'E-sw', shareWithNewMembers: true });
    const off = await h.publish({ kind: 'sharing.set-default', enterpriseId: 'E-sw', shareWithNewMembers: false });
    await applyPastTheWait(off, sharingSetDefault);
    expect((await applyPastTheWait(on, sharingSetDefault)).counts).toMatchObject({ superseded: 1, applied: 0 });
    expect((await h.request('GET', '/v1/enterprises/E-sw')).body.shareWithNewMembers).toBe(false);
  });
});

/** Applies every chunk of the operation in its own transaction, as the processor would, without waiting. */
async function applyPastTheWait(operationId: string, kind: Pick<AnyKindSpec, 'apply'>) {
  const operation = (await findOperation(h.service.db, operationId))!;
  for (let chunkIndex = 0; chunkIndex < operation.chunks_total!; chunkIndex += 1) {
    const result = await runChunkTransaction(
      h.service.db,
      { operationId, chunkIndex },
      kind.apply(operation, (await chunkJob(operationId, chunkIndex)).data, DEFAULT_APPLY_SETTINGS),
    );
    if (result.claimed && result.progress) await settleStatus(h.service.db, operationId, result.progress);
  }
  return h.waitForOperation(operationId, 5_000);
}
