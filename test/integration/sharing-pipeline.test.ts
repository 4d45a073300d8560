import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('pipeline');
});
afterAll(async () => h?.close());

async function associate(enterpriseId: string, ids: string[]) {
  const operationId = await h.publish({ kind: 'members.associate', enterpriseId, memberIds: ids });
  return h.waitForOperation(operationId);
}

async function historyRows(operationId: string) {
  return h.service.db.selectFrom('sharing_history').selectAll().where('operation_id', '=', operationId).execute();
}

describe('members and the share-with-new-members switch', () => {
  it('a member associated while the switch is off starts disabled, on starts enabled; flipping changes no one', async () => {
    const before = await associate('E-switch', ['sw-a']);
    expect(before).toMatchObject({ status: 'completed', counts: { applied: 1 } });

    const flip = await h.waitForOperation(
      await h.publish({ kind: 'sharing.set-default', enterpriseId: 'E-switch', shareWithNewMembers: true }),
    );
    expect(flip).toMatchObject({
      status: 'completed',
      counts: { applied: 1 },
      progress: { chunksDone: 1, chunksTotal: 1 },
    });
    await associate('E-switch', ['sw-b']);

    const a = await h.request('GET', '/v1/enterprises/E-switch/members/sw-a');
    const b = await h.request('GET', '/v1/enterprises/E-switch/members/sw-b');
    expect(a.body).toMatchObject({ memberId: 'sw-a', sharingEnabled: false });
    expect(b.body).toMatchObject({ memberId: 'sw-b', sharingEnabled: true });
    expect(typeof b.body.associatedAt).toBe('string');

    const enterprise = await h.request('GET', '/v1/enterprises/E-switch');
    expect(enterprise.body).toEqual({
      enterpriseId: 'E-switch',
      shareWithNewMembers: true,
      memberCount: 2,
      sharingEnabledCount: 1,
      paygTotal: '0.00',
    });

    const again = await h.waitForOperation(
      await h.publish({ kind: 'sharing.set-default', enterpriseId: 'E-switch', shareWithNewMembers: true }),
    );
    expect(again.counts).toMatchObject({ applied: 0, unchanged: 1 });
  });

  it('refuses an account associated with another enterprise and dissociates members one by one', async () => {
    await associate('E-one', ['x-1', 'x-2']);
    const elsewhere = await associate('E-two', ['x-1', 'x-3']);
    expect(elsewhere).toMatchObject({
      status: 'completed_with_rejections',
      counts: { applied: 1, rejected: 1 },
      rejectedByReason: { associated_elsewhere: 1 },
    });
    const gone = await h.waitForOperation(
      await h.publish({ kind: 'members.dissociate', enterpriseId: 'E-one', memberIds: ['x-1', 'x-3'] }),
    );
    expect(gone).toMatchObject({ counts: { applied: 1, rejected: 1 }, rejectedByReason: { not_a_member: 1 } });
    expect((await h.request('GET', '/v1/enterprises/E-one/members/x-1')).status).toBe(404);
    expect((await h.request('GET', '/v1/enterprises/E-two/members/x-3')).status).toBe(200);
  });
});

describe('sharing.set', () => {
  it('applies, reports unchanged with a history row, and rejects non-members and repeats item by item', async () => {
    await associate('E-set', ['s-1', 's-2', 's-3']);
    const first = await h.waitForOperation(
      await h.publish({ kind: 'sharing.set', enterpriseId: 'E-set', enabled: true, memberIds: ['s-1', 's-2'] }),
    );
    expect(first).toMatchObject({ status: 'completed', counts: { applied: 2, unchanged: 0, rejected: 0 } });

    const operationId = await h.publish({
      kind: 'sharing.set',
      enterpriseId: 'E-set',
      enabled: true,
      memberIds: ['s-1', 's-3', 'stranger', 's-3', 's-1'],
    });
    const second = await h.waitForOperation(operationId);
    expect(second).toMatchObject({
      status: 'completed_with_rejections',
      counts: { applied: 1, unchanged: 1, superseded: 0, rejected: 3 },
      rejectedByReason: { not_a_member: 1, duplicate_item: 2 },
      progress: { itemsDone: 5, itemsTotal: 5, chunksDone: 1, chunksTotal: 1 },
    });
    expect(second.finishedAt).not.toBeNull();

    const rows = await historyRows(operationId);
    expect(rows.map((r) => [r.member_id, r.outcome, r.sharing_before, r.sharing_after]).sort()).toEqual([
      ['s-1', 'unchanged', true, true],
      ['s-3', 'applied', false, true],
    ]);

    const rejections = await h.request('GET', `/v1/operations/${operationId}/rejections`);
    expect(rejections.body).toEqual({
      items: [
        { position: 2, memberId: 'stranger', reason: 'not_a_member' },
        { position: 3, memberId: 's-3', reason: 'duplicate_item' },
        { position: 4, memberId: 's-1', reason: 'duplicate_item' },
      ],
      nextCursor: null,
    });

    const history = await h.request('GET', '/v1/enterprises/E-set/members/s-1/sharing-history');
    expect(history.body.items.map((i: { outcome: string }) => i.outcome)).toEqual(['unchanged', 'applied', 'applied']);
    expect(history.body.items[0]).toMatchObject({
      operationId,
      action: 'enable',
      sharingBefore: true,
      sharingAfter: true,
    });
  });

  it('splits a batch of 1,050 members into 11 chunks with exactly one history row per member', async () => {
    const ids = memberIds('big', 1050);
    const assoc = await associate('E-big', ids);
    expect(assoc).toMatchObject({
      status: 'completed',
      progress: { chunksTotal: 11, chunksDone: 11, itemsDone: 1050 },
    });

    const operationId = await h.publish({ kind: 'sharing.set', enterpriseId: 'E-big', enabled: true, memberIds: ids });
    const done = await h.waitForOperation(operationId);
    expect(done).toMatchObject({
      status: 'completed',
      progress: { chunksDone: 11, chunksTotal: 11, itemsDone: 1050, itemsTotal: 1050 },
      counts: { applied: 1050, unchanged: 0, superseded: 0, rejected: 0 },
    });
    const chunks = await h.service.db
      .selectFrom('operation_chunks')
      .select(['chunk_index', 'applied'])
      .where('operation_id', '=', operationId)
      .orderBy('chunk_index')
      .execute();
    expect(chunks.map((c) => c.applied)).toEqual([...Array(10).fill(100), 50]);
    const { rows } = await sql<{ n: number; distinct_members: number }>`
      SELECT count(*)::int AS n, count(DISTINCT member_id)::int AS distinct_members
      FROM sharing_history WHERE operation_id = ${operationId}`.execute(h.service.db);
    expect(rows[0]).toEqual({ n: 1050, distinct_members: 1050 });
    expect((await h.request('GET', '/v1/enterprises/E-big')).body).toMatchObject({
      memberCount: 1050,
      sharingEnabledCount: 1050,
    });

    const page1 = await h.request('GET', `/v1/operations/${operationId}/rejections`);
    expect(page1.body).toEqual({ items: [], nextCursor: null });
  });

  it('keeps chunk jobs small: each carries only its own slice of the batch', async () => {
    const ids = memberIds('slim', 250);
    await associate('E-slim', ids);
    const { service } = h;
    await service.workers!.chunks.pause();
    try {
      const operationId = await h.publish({
        kind: 'sharing.set',
        enterpriseId: 'E-slim',
        enabled: true,
        memberIds: ids,
      });
      const ours = await h.waitingChunkJobs(operationId);
      expect(ours.map((j) => j.id).sort()).toEqual([0, 1, 2].map((i) => `${operationId}-chunk-${i}`));
      expect(ours.map((j) => j.data.items?.length).sort()).toEqual([100, 100, 50]);
      // Readable on the dashboard: the kind and the chunk range, then the job's size.
      expect(ours.map((j) => j.name).sort()).toEqual(['sharing.set 0', 'sharing.set 1', 'sharing.set 2']);
      // (BullMQ's PostgreSQL backend keeps job data as jsonb, which orders keys its own way.)
      if (process.env.TEST_QUEUE_BACKEND !== 'postgres')
        expect(Object.keys(ours[0]!.data).slice(0, 5)).toEqual([
          'operationId',
          'kind',
          'chunkIndex',
          'chunks',
          'itemCount',
        ]);
      expect(service.queues.chunks.name).toBe('benefits-chunks');
    } finally {
      service.workers!.chunks.resume();
    }
  });
});
