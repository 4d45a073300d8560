import type { Job } from 'bullmq';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { createChunkProcessor } from '../../src/workers/chunk.processor.js';
import { sortedOutcomes } from '../support/chunks-by-hand.js';
import { type Harness, memberIds, startHarness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('coupons');
});
afterAll(async () => h?.close());

const day = 24 * 3600 * 1000;
const window = (fromDays: number, untilDays: number) => ({
  validFrom: new Date(Date.now() + fromDays * day).toISOString(),
  validUntil: new Date(Date.now() + untilDays * day).toISOString(),
});

async function run(body: Record<string, unknown>) {
  return h.waitForOperation(await h.publish(body));
}

async function issue(enterpriseId: string, couponId: string, faceValue: string, extra: Record<string, unknown> = {}) {
  return run({
    kind: 'coupons.issue',
    enterpriseId,
    coupons: [
      { couponId, faceValue, allocationMode: 'multiple', ...window(-1, 30), products: ['ecs', 'oss'], ...extra },
    ],
  });
}

/** face value = master balance + members' unused + revoked-and-returned bookkeeping, exactly. */
async function ledger(couponId: string) {
  const { rows } = await sql<{
    face: number;
    balance: number;
    unused: number;
    spent: number;
    allocated: number;
    revoked: number;
  }>`
    SELECT c.face_value_cents AS face, c.balance_cents AS balance,
           coalesce(sum(mc.unused_cents), 0)::int8 AS unused, coalesce(sum(mc.spent_cents), 0)::int8 AS spent,
           coalesce(sum(mc.allocated_cents), 0)::int8 AS allocated, coalesce(sum(mc.revoked_cents), 0)::int8 AS revoked
    FROM coupons c LEFT JOIN member_coupons mc ON mc.coupon_id = c.coupon_id
    WHERE c.coupon_id = ${couponId} GROUP BY c.coupon_id`.execute(h.service.db);
  return rows[0]!;
}

describe('issuing and reading coupons', () => {
  it('loads master coupons and reports them with exact balances', async () => {
    const terms = window(-1, 30);
    const done = await issue('E-c', 'C-read', '100.00', terms);
    expect(done).toMatchObject({ status: 'completed', counts: { applied: 1 } });
    const coupon = await h.request('GET', '/v1/coupons/C-read');
    expect(coupon.body).toMatchObject({
      couponId: 'C-read',
      enterpriseId: 'E-c',
      faceValue: '100.00',
      balance: '100.00',
      allocatedOutstanding: '0.00',
      allocationMode: 'multiple',
      products: ['ecs', 'oss'],
      allocatable: true,
    });
    const again = await issue('E-c', 'C-read', '100.00', terms);
    expect(again.counts).toMatchObject({ unchanged: 1 });
    const clash = await issue('E-other', 'C-read', '5.00');
    expect(clash).toMatchObject({ rejectedByReason: { coupon_exists: 1 } });
    const list = await h.request('GET', '/v1/enterprises/E-c/coupons');
    expect(list.body.items.map((c: { couponId: string }) => c.couponId)).toContain('C-read');
    expect((await h.request('GET', '/v1/coupons/nope')).status).toBe(404);
  });

  it('refuses bad amounts and windows before anything is recorded, naming the field', async () => {
    for (const faceValue of ['-1.00', '1.234', '1e3', 'NaN', '0.00', 12]) {
      const response = await h.request('POST', '/v1/operations', {
        kind: 'coupons.issue',
        enterpriseId: 'E-c',
        coupons: [{ couponId: 'C-bad', faceValue, allocationMode: 'once', ...window(0, 1), products: ['ecs'] }],
      });
      expect(response.status).toBe(400);
      expect(response.body.issues[0].path).toBe('coupons.0.faceValue');
    }
    const backwards = await h.request('POST', '/v1/operations', {
      kind: 'coupons.issue',
      enterpriseId: 'E-c',
      coupons: [{ couponId: 'C-bad', faceValue: '1.00', allocationMode: 'once', ...window(2, 1), products: ['ecs'] }],
    });
    expect(backwards.body.issues[0].path).toBe('coupons.0.validUntil');
    const allocation = await h.request('POST', '/v1/operations', {
      kind: 'coupons.allocate',
      enterpriseId: 'E-c',
      couponId: 'C-read',
      allocations: [{ memberId: 'm', amount: '0.001' }],
    });
    expect(allocation.body.issues[0].path).toBe('allocations.0.amount');
  });
});

describe('allocating and revoking', () => {
  it('applies every rule item by item while the rest of the batch goes on', async () => {
    const ids = memberIds('cm', 6);
    await run({ kind: 'members.associate', enterpriseId: 'E-rules', memberIds: ids });
    await issue('E-rules', 'C-rules', '50.00');
    await issue('E-rules', 'C-expired', '50.00', window(-10, -1));
    await issue('E-rules', 'C-future', '50.00', window(1, 10));

    const allocate = await run({
      kind: 'coupons.allocate',
      enterpriseId: 'E-rules',
      couponId: 'C-rules',
      allocations: [
        { memberId: ids[0], amount: '20.00' },
        { memberId: ids[1], amount: '25.50' },
        { memberId: ids[2], amount: '10.00' }, // only 4.50 left: refused, not split
        { memberId: 'outsider', amount: '1.00' },
        { memberId: ids[0], amount: '1.00' },
        { memberId: ids[3], amount: '4.50' },
      ],
    });
    expect(allocate).toMatchObject({
      status: 'completed_with_rejections',
      counts: { applied: 3, rejected: 3 },
      rejectedByReason: { insufficient_balance: 1, not_a_member: 1, duplicate_item: 1 },
    });
    expect((await h.request('GET', '/v1/coupons/C-rules')).body).toMatchObject({
      balance: '0.00',
      allocatedOutstanding: '50.00',
      allocatable: false,
    });

    const expired = await run({
      kind: 'coupons.allocate',
      enterpriseId: 'E-rules',
      couponId: 'C-expired',
      allocations: [{ memberId: ids[0], amount: '1.00' }],
    });
    expect(expired.rejectedByReason).toEqual({ coupon_expired: 1 });
    const future = await run({
      kind: 'coupons.allocate',
      enterpriseId: 'E-rules',
      couponId: 'C-future',
      allocations: [{ memberId: ids[0], amount: '1.00' }],
    });
    expect(future.rejectedByReason).toEqual({ coupon_not_yet_valid: 1 });
    const unknown = await run({
      kind: 'coupons.allocate',
      enterpriseId: 'E-rules',
      couponId: 'C-none',
      allocations: [{ memberId: ids[0], amount: '1.00' }],
    });
    expect(unknown.rejectedByReason).toEqual({ unknown_coupon: 1 });

    const revoke = await run({
      kind: 'coupons.revoke',
      enterpriseId: 'E-rules',
      couponId: 'C-rules',
      revocations: [
        { memberId: ids[0] }, // all 20.00
        { memberId: ids[1], amount: '0.50' },
        { memberId: ids[3], amount: '4.51' },
        { memberId: ids[4] },
        { memberId: 'outsider' },
      ],
    });
    expect(revoke).toMatchObject({
      counts: { applied: 2, rejected: 3 },
      rejectedByReason: { amount_exceeds_recoverable: 1, nothing_to_revoke: 1, not_a_member: 1 },
    });
    expect((await h.request('GET', '/v1/coupons/C-rules')).body).toMatchObject({
      balance: '20.50',
      allocatedOutstanding: '29.50',
    });
    const mine = await h.request('GET', `/v1/enterprises/E-rules/members/${ids[1]}/coupons`);
    expect(mine.body.items).toEqual([
      expect.objectContaining({ couponId: 'C-rules', allocated: '25.50', revoked: '0.50', unused: '25.00' }),
    ]);
    const rejections = await h.request('GET', `/v1/operations/${revoke.operationId}/rejections`);
    expect(rejections.body.items[0]).toEqual({
      position: 2,
      memberId: ids[3],
      couponId: 'C-rules',
      reason: 'amount_exceeds_recoverable',
    });

    const history = await h.request('GET', `/v1/coupons/C-rules/history?memberId=${ids[1]}`);
    expect(history.body.items).toMatchObject([
      { action: 'revoke', amount: '0.50', couponBalanceAfter: '20.50', memberBalanceAfter: '25.00' },
      { action: 'allocate', amount: '25.50', couponBalanceAfter: '4.50', memberBalanceAfter: '25.50' },
    ]);
    const enterpriseHistory = await h.request('GET', '/v1/enterprises/E-rules/coupon-history');
    expect(enterpriseHistory.body.items[0]).toMatchObject({ action: 'revoke' });
    expect(enterpriseHistory.body.items.at(-1)).toMatchObject({ action: 'issue', amount: '50.00', memberId: null });

    const l = await ledger('C-rules');
    expect(l.face).toBe(l.balance + l.unused + l.spent);
  });

  it('a once coupon accepts one allocation operation, across many chunks', async () => {
    const ids = memberIds('once', 250);
    await run({ kind: 'members.associate', enterpriseId: 'E-once', memberIds: ids });
    await issue('E-once', 'C-once', '1000.00', { allocationMode: 'once' });
    const first = await run({
      kind: 'coupons.allocate',
      enterpriseId: 'E-once',
      couponId: 'C-once',
      allocations: ids.map((memberId) => ({ memberId, amount: '1.00' })),
    });
    expect(first).toMatchObject({ status: 'completed', counts: { applied: 250 }, progress: { chunksTotal: 3 } });
    const second = await run({
      kind: 'coupons.allocate',
      enterpriseId: 'E-once',
      couponId: 'C-once',
      allocations: [{ memberId: ids[0], amount: '1.00' }],
    });
    expect(second.rejectedByReason).toEqual({ coupon_not_allocatable: 1 });
    expect((await h.request('GET', '/v1/coupons/C-once')).body).toMatchObject({
      balance: '750.00',
      allocatable: false,
    });
  });

  it('thirty allocations of 0.10 sum to exactly 3.00', async () => {
    const ids = memberIds('dime', 30);
    await run({ kind: 'members.associate', enterpriseId: 'E-dime', memberIds: ids });
    await issue('E-dime', 'C-dime', '3.00');
    const done = await run({
      kind: 'coupons.allocate',
      enterpriseId: 'E-dime',
      couponId: 'C-dime',
      allocations: ids.map((memberId) => ({ memberId, amount: '0.10' })),
    });
    expect(done.counts.applied).toBe(30);
    expect((await h.request('GET', '/v1/coupons/C-dime')).body).toMatchObject({
      balance: '0.00',
      allocatedOutstanding: '3.00',
    });
  });
});

describe('retries and re-publication', () => {
  it('a chunk delivered twice and an operation published twice move money once', async () => {
    const ids = memberIds('twice', 120);
    await run({ kind: 'members.associate', enterpriseId: 'E-twice', memberIds: ids });
    await issue('E-twice', 'C-twice', '1000.00');
    const body = {
      operationId: 'alloc-twice',
      kind: 'coupons.allocate',
      enterpriseId: 'E-twice',
      couponId: 'C-twice',
      allocations: ids.map((memberId) => ({ memberId, amount: '2.50' })),
    };
    await h.service.workers!.chunks.pause();
    try {
      expect((await h.request('POST', '/v1/operations', body)).status).toBe(202);
      const job = (await h.service.queues.chunks.getJob('alloc-twice-chunk-0')) as Job;
      const processor = createChunkProcessor({ db: h.service.db, logger: createLogger('silent') });
      const results = await Promise.all([processor(job), processor(job)]);
      expect(sortedOutcomes(results)).toEqual(['already_applied', 'applied']);
    } finally {
      h.service.workers!.chunks.resume();
    }
    const done = await h.waitForOperation('alloc-twice');
    expect(done).toMatchObject({ status: 'completed', counts: { applied: 120 } });
    const republished = await h.request('POST', '/v1/operations', body);
    expect(republished).toMatchObject({ status: 200, body: { status: 'completed' } });
    expect((await h.request('POST', '/v1/operations', { ...body, couponId: 'C-other' })).status).toBe(409);
    expect((await h.request('GET', '/v1/coupons/C-twice')).body).toMatchObject({
      balance: '700.00',
      allocatedOutstanding: '300.00',
    });
    const rows = await h.service.db
      .selectFrom('coupon_history')
      .select('id')
      .where('operation_id', '=', 'alloc-twice')
      .execute();
    expect(rows).toHaveLength(120);
  });
});
