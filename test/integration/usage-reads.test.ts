import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('usage-reads');
});
afterAll(async () => h?.close());

const day = 24 * 3600 * 1000;
const at = (days: number) => new Date(Date.now() + days * day).toISOString();
/** A validity window relative to now, in days. */
const window = (fromDays: number, untilDays: number) => ({ validFrom: at(fromDays), validUntil: at(untilDays) });
// Fixed once: the same windows on two packages must be equal to the millisecond.
const MASTER_WINDOW = window(-5, 30);
const COUPON_WINDOW = window(-1, 30);
const USED_AT = at(-1 / 24);

async function run(body: Record<string, unknown>) {
  return h.waitForOperation(await h.publish(body));
}

const get = async (url: string) => {
  const response = await h.request('GET', url);
  return { status: response.status, body: response.body };
};

const E = 'E-r';
const [M1, M2, M3] = ['r-m1', 'r-m2', 'r-m3'];
const ids = (items: { benefitId?: string; recordId?: string; packageId?: string; memberId?: string }[]) =>
  items.map((i) => i.benefitId ?? i.recordId ?? i.packageId ?? i.memberId);

describe('reads of packages, usage and benefits', () => {
  beforeAll(async () => {
    await run({ kind: 'members.associate', enterpriseId: E, memberIds: [M1, M2, M3] });
    await run({ kind: 'sharing.set', enterpriseId: E, enabled: true, memberIds: [M1, M3] });
    const pkg = (packageId: string, owner: string, product: string, quantity: string, w: object) => ({
      packageId,
      owner,
      product,
      unit: 'hour',
      quantity,
      ...w,
    });
    await run({
      kind: 'packages.issue',
      enterpriseId: E,
      packages: [
        pkg('own-a', M1, 'ecs', '2', window(-5, 20)),
        pkg('own-b', M1, 'ecs', '1', window(-5, 10)),
        pkg('own-x', M1, 'oss', '5', window(-5, 15)),
        pkg('own-old', M1, 'ecs', '5', window(-10, -1)),
        pkg('mst-1', 'master', 'ecs', '3', MASTER_WINDOW),
        pkg('mst-2', 'master', 'ecs', '3', { validFrom: at(-10), validUntil: MASTER_WINDOW.validUntil }),
        pkg('mst-big', 'master', 'cpu', '1000', window(-5, 40)),
      ],
    });
    // Same window as mst-1, issued later: after it.
    await run({
      kind: 'packages.issue',
      enterpriseId: E,
      packages: [pkg('mst-3', 'master', 'ecs', '3', MASTER_WINDOW)],
    });
    const coupon = (couponId: string, faceValue: string, products: string[]) => ({
      couponId,
      faceValue,
      allocationMode: 'multiple',
      ...COUPON_WINDOW,
      products,
    });
    await run({
      kind: 'coupons.issue',
      enterpriseId: E,
      coupons: [
        coupon('C-1', '10.00', ['ecs']),
        coupon('C-2', '5.00', ['ecs', 'oss']),
        coupon('C-oss', '1.00', ['oss']),
      ],
    });
    await run({
      kind: 'coupons.allocate',
      enterpriseId: E,
      couponId: 'C-1',
      allocations: [{ memberId: M1, amount: '4.00' }],
    });
    await run({
      kind: 'coupons.allocate',
      enterpriseId: E,
      couponId: 'C-2',
      allocations: [{ memberId: M1, amount: '2.00' }],
    });
  });

  it('lists what a member can draw on now, in the order settlement uses it', async () => {
    const ecs = await get(`/v1/enterprises/${E}/members/${M1}/benefits?product=ecs`);
    expect(ecs.status).toBe(200);
    expect(ecs.body).toMatchObject({ enterpriseId: E, memberId: M1, product: 'ecs', sharingEnabled: true });
    // Own (soonest validUntil first; the expired one not at all), master (earliest validFrom, then
    // first issued), the member's coupons (smallest unused first), the master's (smallest balance first).
    expect(ecs.body.items.map((i: { source: string; benefitId: string }) => `${i.source}:${i.benefitId}`)).toEqual([
      'own_package:own-b',
      'own_package:own-a',
      'master_package:mst-2',
      'master_package:mst-1',
      'master_package:mst-3',
      'member_coupon:C-2',
      'member_coupon:C-1',
      'master_coupon:C-2',
      'master_coupon:C-1',
    ]);
    expect(ecs.body.items[0]).toEqual({
      source: 'own_package',
      benefitId: 'own-b',
      product: 'ecs',
      unit: 'hour',
      remaining: '1',
      validFrom: expect.any(String),
      validUntil: expect.any(String),
    });
    expect(ecs.body.items[5]).toEqual({
      source: 'member_coupon',
      benefitId: 'C-2',
      products: ['ecs', 'oss'],
      amount: '2.00',
      ...COUPON_WINDOW,
    });
    expect(ecs.body.items.at(-1)).toMatchObject({ source: 'master_coupon', benefitId: 'C-1', amount: '6.00' });

    const all = await get(`/v1/enterprises/${E}/members/${M1}/benefits`);
    expect(all.body.product).toBeNull();
    expect(ids(all.body.items)).toEqual([
      'own-b',
      'own-x',
      'own-a',
      'mst-2',
      'mst-1',
      'mst-3',
      'mst-big',
      'C-2',
      'C-1',
      'C-oss',
      'C-2',
      'C-1',
    ]);

    // Sharing off: no master packages, the master's coupons still.
    const off = await get(`/v1/enterprises/${E}/members/${M2}/benefits?product=ecs`);
    expect(off.body).toMatchObject({ sharingEnabled: false });
    expect(off.body.items.map((i: { source: string; benefitId: string }) => `${i.source}:${i.benefitId}`)).toEqual([
      'master_coupon:C-2',
      'master_coupon:C-1',
    ]);

    expect((await get(`/v1/enterprises/${E}/members/ghost/benefits`)).status).toBe(404);
    expect((await get(`/v1/enterprises/E-other/members/${M1}/benefits`)).status).toBe(404);
    expect((await get(`/v1/enterprises/${E}/members/${M1}/benefits?product=`)).status).toBe(400);
  });

  it('shows settlements with their breakdowns, newest first, and what they consumed', async () => {
    const record = (recordId: string, memberId: string, product: string, quantity: string, amount: string) => ({
      recordId,
      memberId,
      product,
      quantity,
      amount,
      usedAt: USED_AT,
    });
    const settled = await run({
      kind: 'usage.settle',
      enterpriseId: E,
      records: [
        record('r1', M1, 'ecs', '1.5', '3.00'),
        // 10.5 from packages, 1.5 of 12 priced at 3.00, paid from M1's allocations: C-2 first (smaller).
        record('r2', M1, 'ecs', '12', '24.00'),
        // Sharing off: the master's coupon balances (C-2, then C-1), then pay-as-you-go.
        record('r3', M2, 'ecs', '1', '20.00'),
      ],
    });
    expect(settled).toMatchObject({ status: 'completed', counts: { applied: 3 } });

    const m1 = await get(`/v1/enterprises/${E}/members/${M1}/usage`);
    expect(m1.status).toBe(200);
    expect(m1.body.nextCursor).toBeNull();
    expect(m1.body.items).toEqual([
      {
        recordId: 'r2',
        memberId: M1,
        product: 'ecs',
        quantity: '12',
        amount: '24.00',
        usedAt: USED_AT,
        outcome: 'applied',
        lines: [
          { source: 'own_package', benefitId: 'own-a', quantity: '1.5' },
          { source: 'master_package', benefitId: 'mst-2', quantity: '3' },
          { source: 'master_package', benefitId: 'mst-1', quantity: '3' },
          { source: 'master_package', benefitId: 'mst-3', quantity: '3' },
          { source: 'member_coupon', benefitId: 'C-2', amount: '2.00' },
          { source: 'member_coupon', benefitId: 'C-1', amount: '1.00' },
        ],
        paygAmount: '0.00',
        settledAt: expect.any(String),
      },
      {
        recordId: 'r1',
        memberId: M1,
        product: 'ecs',
        quantity: '1.5',
        amount: '3.00',
        usedAt: USED_AT,
        outcome: 'applied',
        lines: [
          { source: 'own_package', benefitId: 'own-b', quantity: '1' },
          { source: 'own_package', benefitId: 'own-a', quantity: '0.5' },
        ],
        paygAmount: '0.00',
        settledAt: expect.any(String),
      },
    ]);
    const m2 = await get(`/v1/enterprises/${E}/members/${M2}/usage`);
    expect(m2.body.items).toEqual([
      expect.objectContaining({
        recordId: 'r3',
        lines: [
          { source: 'master_coupon', benefitId: 'C-2', amount: '3.00' },
          { source: 'master_coupon', benefitId: 'C-1', amount: '6.00' },
          { source: 'payg', benefitId: null, amount: '11.00' },
        ],
        paygAmount: '11.00',
      }),
    ]);
    expect((await get(`/v1/enterprises/${E}/members/nobody/usage`)).body).toEqual({ items: [], nextCursor: null });
    expect((await get(`/v1/enterprises/${E}/members/${M1}/usage?cursor=abc`)).status).toBe(400);

    // Pay-as-you-go per member and per enterprise; coupons' spent from allocations and balances.
    expect((await get(`/v1/enterprises/${E}/members/${M2}`)).body).toMatchObject({ paygTotal: '11.00' });
    expect((await get(`/v1/enterprises/${E}/members/${M1}`)).body).toMatchObject({ paygTotal: '0.00' });
    expect((await get(`/v1/enterprises/${E}`)).body).toMatchObject({ paygTotal: '11.00' });
    expect((await get('/v1/coupons/C-1')).body).toMatchObject({
      spent: '7.00',
      balance: '0.00',
      allocatedOutstanding: '3.00',
    });
    expect((await get('/v1/coupons/C-2')).body).toMatchObject({
      spent: '5.00',
      balance: '0.00',
      allocatedOutstanding: '0.00',
    });
    expect((await get('/v1/coupons/C-oss')).body).toMatchObject({ spent: '0.00', balance: '1.00' });

    // Packages: remaining and consumed, and who drew on them.
    expect((await get('/v1/packages/own-a')).body).toEqual({
      packageId: 'own-a',
      enterpriseId: E,
      owner: M1,
      product: 'ecs',
      unit: 'hour',
      quantity: '2',
      remaining: '0',
      consumed: '2',
      validFrom: expect.any(String),
      validUntil: expect.any(String),
    });
    expect((await get('/v1/packages/mst-1')).body).toMatchObject({ owner: 'master', remaining: '0', consumed: '3' });
    const consumption = await get('/v1/packages/own-a/consumption');
    expect(consumption.body).toEqual({
      items: [
        {
          recordId: 'r2',
          memberId: M1,
          source: 'own_package',
          quantity: '1.5',
          usedAt: USED_AT,
          settledAt: expect.any(String),
        },
        {
          recordId: 'r1',
          memberId: M1,
          source: 'own_package',
          quantity: '0.5',
          usedAt: USED_AT,
          settledAt: expect.any(String),
        },
      ],
      nextCursor: null,
    });
    expect((await get('/v1/packages/mst-big/consumption')).body).toEqual({ items: [], nextCursor: null });
    expect((await get('/v1/packages/nope')).status).toBe(404);
    expect((await get('/v1/packages/nope/consumption')).status).toBe(404);

    // Drawn down: what is left to draw on now is what M1 still holds of C-1.
    const left = await get(`/v1/enterprises/${E}/members/${M1}/benefits?product=ecs`);
    expect(left.body.items).toEqual([
      { source: 'member_coupon', benefitId: 'C-1', products: ['ecs'], amount: '3.00', ...COUPON_WINDOW },
    ]);
  });

  it('pages through a member usage and a package consumption with cursors', async () => {
    const records = Array.from({ length: 101 }, (_, i) => ({
      recordId: `cpu-${String(i).padStart(3, '0')}`,
      memberId: M1,
      product: 'cpu',
      quantity: '1',
      amount: '0.00',
      usedAt: USED_AT,
    }));
    expect(await run({ kind: 'usage.settle', enterpriseId: E, records })).toMatchObject({ counts: { applied: 101 } });

    const page1 = await get(`/v1/enterprises/${E}/members/${M1}/usage`);
    expect(page1.body.items).toHaveLength(100);
    expect(page1.body.items[0]).toMatchObject({
      recordId: 'cpu-100',
      lines: [{ source: 'master_package', benefitId: 'mst-big', quantity: '1' }],
      paygAmount: '0.00',
    });
    expect(page1.body.nextCursor).toMatch(/^\d+$/);
    const page2 = await get(`/v1/enterprises/${E}/members/${M1}/usage?cursor=${page1.body.nextCursor}`);
    expect(ids(page2.body.items)).toEqual(['cpu-000', 'r2', 'r1']);
    expect(page2.body.nextCursor).toBeNull();

    const used1 = await get('/v1/packages/mst-big/consumption');
    expect(used1.body.items).toHaveLength(100);
    expect(used1.body.items[0]).toMatchObject({
      recordId: 'cpu-100',
      memberId: M1,
      source: 'master_package',
      quantity: '1',
    });
    const used2 = await get(`/v1/packages/mst-big/consumption?cursor=${used1.body.nextCursor}`);
    expect(used2.body).toEqual({ items: [expect.objectContaining({ recordId: 'cpu-000' })], nextCursor: null });
    expect((await get('/v1/packages/mst-big')).body).toMatchObject({ remaining: '899', consumed: '101' });
  });

  it('lists an enterprise packages by id, a page at a time', async () => {
    const packages = Array.from({ length: 101 }, (_, i) => ({
      packageId: `pl-${String(i).padStart(3, '0')}`,
      owner: 'master',
      product: 'ecs',
      unit: 'GB',
      quantity: '0.000001',
      ...window(-1, 1),
    }));
    await run({ kind: 'packages.issue', enterpriseId: 'E-pl', packages });
    const page1 = await get('/v1/enterprises/E-pl/packages');
    expect(page1.body.items).toHaveLength(100);
    expect(page1.body.items[0]).toMatchObject({
      packageId: 'pl-000',
      enterpriseId: 'E-pl',
      owner: 'master',
      quantity: '0.000001',
    });
    expect(page1.body.nextCursor).toBe('pl-099');
    const page2 = await get(`/v1/enterprises/E-pl/packages?cursor=${page1.body.nextCursor}`);
    expect(page2.body).toEqual({ items: [expect.objectContaining({ packageId: 'pl-100' })], nextCursor: null });
    const own = await get(`/v1/enterprises/${E}/packages`);
    expect(ids(own.body.items)).toEqual(['mst-1', 'mst-2', 'mst-3', 'mst-big', 'own-a', 'own-b', 'own-old', 'own-x']);
    expect((await get('/v1/enterprises/E-none/packages')).body).toEqual({ items: [], nextCursor: null });
  });

  it('flags members disabled after drawing on the master packages, and lists them', async () => {
    // M1 drew on the master's packages within the lookback; M3 never did; M2 is already off.
    const disable = await run({ kind: 'sharing.set', enterpriseId: E, enabled: false, memberIds: [M1, M2, M3] });
    expect(disable).toMatchObject({ counts: { applied: 2, unchanged: 1, arrearsRisk: 1 } });
    const risk = await get(`/v1/operations/${disable.operationId}/arrears-risk`);
    expect(risk.body).toEqual({ items: [{ memberId: M1, enterpriseId: E }], nextCursor: null });
    // Its sharing off, M1 no longer sees the master's packages.
    const cpu = await get(`/v1/enterprises/${E}/members/${M1}/benefits?product=cpu`);
    expect(cpu.body).toMatchObject({ sharingEnabled: false, items: [] });

    const enable = await run({ kind: 'sharing.set', enterpriseId: E, enabled: true, memberIds: [M1] });
    expect(enable.counts).toMatchObject({ applied: 1, arrearsRisk: 0 });
    expect((await get(`/v1/operations/${enable.operationId}/arrears-risk`)).body).toEqual({
      items: [],
      nextCursor: null,
    });
    const issued = await get(`/v1/operations/${disable.operationId}`);
    expect(issued.body.counts.arrearsRisk).toBe(1);
    const other = await run({ kind: 'members.associate', enterpriseId: E, memberIds: ['r-m9'] });
    expect(other.counts).not.toHaveProperty('arrearsRisk');
    expect((await get('/v1/operations/nope/arrears-risk')).status).toBe(404);
  });

  it('pages through the members at risk of arrears', async () => {
    const EA = 'E-arr';
    const members = memberIds('arr', 101);
    await run({ kind: 'members.associate', enterpriseId: EA, memberIds: members });
    await run({ kind: 'sharing.set', enterpriseId: EA, enabled: true, memberIds: members });
    await run({
      kind: 'packages.issue',
      enterpriseId: EA,
      packages: [
        { packageId: 'arr-pkg', owner: 'master', product: 'ecs', unit: 'GB', quantity: '1000', ...window(-5, 5) },
      ],
    });
    await run({
      kind: 'usage.settle',
      enterpriseId: EA,
      records: members.map((memberId, i) => ({
        recordId: `arr-r${i}`,
        memberId,
        product: 'ecs',
        quantity: '1',
        amount: '1.00',
        usedAt: USED_AT,
      })),
    });
    const disable = await run({ kind: 'sharing.set', enterpriseId: EA, enabled: false, memberIds: members });
    expect(disable.counts).toMatchObject({ applied: 101, arrearsRisk: 101 });
    const page1 = await get(`/v1/operations/${disable.operationId}/arrears-risk`);
    expect(ids(page1.body.items)).toEqual(members.slice(0, 100));
    expect(page1.body.nextCursor).toBe(members[99]);
    const page2 = await get(`/v1/operations/${disable.operationId}/arrears-risk?cursor=${page1.body.nextCursor}`);
    expect(page2.body).toEqual({ items: [{ memberId: members[100], enterpriseId: EA }], nextCursor: null });
  });
});
