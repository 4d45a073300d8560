import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, memberIds, startHarness } from '../support/harness.js';
import { expectLedgerConsistent, ledgerPublisher } from '../support/ledger-check.js';
import { waitForFinal } from '../support/progress.js';

// Operations that depend on each other, published back to back without waiting for any of them
// (as a migration script does through HTTP): whatever order their chunks reach the workers in,
// every item's outcome, every history row and the final state are those of applying them one after
// the other in publication order. expectLedgerConsistent compares all three with the model.
let h: Harness;
const { published, publish } = ledgerPublisher(() => h);
beforeAll(async () => {
  h = await startHarness('order', { env: { WORKER_CONCURRENCY: '8' } });
});
afterAll(async () => h?.close());

const DAY = 86_400_000;
const coupon = (couponId: string, faceValue: string, allocationMode: 'once' | 'multiple' = 'multiple') => ({
  couponId,
  faceValue,
  allocationMode,
  validFrom: new Date(Date.now() - DAY).toISOString(),
  validUntil: new Date(Date.now() + 30 * DAY).toISOString(),
  products: ['ecs'],
});

/** Publishes each payload as soon as the one before is accepted, then waits for all of them. */
async function publishBackToBack(payloads: Record<string, unknown>[], timeoutMs = 180_000) {
  const ids: string[] = [];
  for (const payload of payloads) ids.push(await publish(payload));
  const views = await waitForFinal(h.service.db, ids, timeoutMs);
  return { ids, statuses: views.map((v) => v.status) };
}

const member = (enterpriseId: string, memberId: string) =>
  h.request('GET', `/v1/enterprises/${enterpriseId}/members/${memberId}`);

describe('dependent operations published back to back', () => {
  it('associate 30,000 members, then enable sharing for them in reverse order: all 30,000 share', async () => {
    const members = memberIds('ord-a', 30_000);
    const { statuses } = await publishBackToBack([
      { kind: 'members.associate', enterpriseId: 'E-ord-a', memberIds: members },
      { kind: 'sharing.set', enterpriseId: 'E-ord-a', enabled: true, memberIds: [...members].reverse() },
    ]);
    expect(statuses).toEqual(['completed', 'completed']);
    expect((await h.request('GET', '/v1/enterprises/E-ord-a')).body).toMatchObject({
      memberCount: 30_000,
      sharingEnabledCount: 30_000,
    });
    await expectLedgerConsistent(h.service.db, published);
  }, 300_000);

  it('associate, issue a coupon, allocate 1.00 to each member: every allocation is applied', async () => {
    const members = memberIds('ord-c', 5_000);
    const { ids, statuses } = await publishBackToBack([
      { kind: 'members.associate', enterpriseId: 'E-ord-c', memberIds: members },
      { kind: 'coupons.issue', enterpriseId: 'E-ord-c', coupons: [coupon('C-ord-c', '5000.00')] },
      {
        kind: 'coupons.allocate',
        enterpriseId: 'E-ord-c',
        couponId: 'C-ord-c',
        allocations: members.map((memberId) => ({ memberId, amount: '1.00' })),
      },
    ]);
    expect(statuses).toEqual(['completed', 'completed', 'completed']);
    expect((await h.request('GET', `/v1/operations/${ids[2]}`)).body.counts).toMatchObject({ applied: 5_000 });
    expect((await h.request('GET', '/v1/coupons/C-ord-c')).body).toMatchObject({
      balance: '0.00',
      allocatedOutstanding: '5000.00',
    });
    await expectLedgerConsistent(h.service.db, published);
  }, 300_000);

  it('allocate, then revoke part of it at once: every revocation finds its allocation', async () => {
    const members = memberIds('ord-r', 500);
    await publishBackToBack([
      { kind: 'members.associate', enterpriseId: 'E-ord-r', memberIds: members },
      { kind: 'coupons.issue', enterpriseId: 'E-ord-r', coupons: [coupon('C-ord-r', '2000.00')] },
    ]);
    const { ids, statuses } = await publishBackToBack([
      {
        kind: 'coupons.allocate',
        enterpriseId: 'E-ord-r',
        couponId: 'C-ord-r',
        allocations: members.map((memberId) => ({ memberId, amount: '2.00' })),
      },
      {
        kind: 'coupons.revoke',
        enterpriseId: 'E-ord-r',
        couponId: 'C-ord-r',
        revocations: [...members].reverse().map((memberId) => ({ memberId, amount: '0.50' })),
      },
    ]);
    expect(statuses).toEqual(['completed', 'completed']);
    expect((await h.request('GET', `/v1/operations/${ids[1]}`)).body.counts).toMatchObject({ applied: 500 });
    expect((await h.request('GET', '/v1/coupons/C-ord-r')).body).toMatchObject({
      balance: '1250.00',
      allocatedOutstanding: '750.00',
    });
    await expectLedgerConsistent(h.service.db, published);
  }, 300_000);

  it('dissociate members from one enterprise, then associate them with another at once', async () => {
    const members = memberIds('ord-m', 2_000);
    await publishBackToBack([{ kind: 'members.associate', enterpriseId: 'E-ord-from', memberIds: members }]);
    const { ids, statuses } = await publishBackToBack([
      { kind: 'members.dissociate', enterpriseId: 'E-ord-from', memberIds: members },
      { kind: 'members.associate', enterpriseId: 'E-ord-to', memberIds: [...members].reverse() },
    ]);
    expect(statuses).toEqual(['completed', 'completed']);
    expect((await h.request('GET', `/v1/operations/${ids[1]}`)).body.counts).toMatchObject({ applied: 2_000 });
    expect((await member('E-ord-to', members[0]!)).status).toBe(200);
    await expectLedgerConsistent(h.service.db, published);
  }, 300_000);

  it('turn share-with-new-members on, then associate members at once: they all start sharing', async () => {
    const members = memberIds('ord-d', 2_000);
    const { statuses } = await publishBackToBack([
      { kind: 'sharing.set-default', enterpriseId: 'E-ord-d', shareWithNewMembers: true },
      { kind: 'members.associate', enterpriseId: 'E-ord-d', memberIds: members },
    ]);
    expect(statuses).toEqual(['completed', 'completed']);
    expect((await h.request('GET', '/v1/enterprises/E-ord-d')).body).toMatchObject({ sharingEnabledCount: 2_000 });
    await expectLedgerConsistent(h.service.db, published);
  }, 300_000);

  it('operations that touch nothing in common do not wait for each other', async () => {
    const big = memberIds('ord-i', 20_000);
    const ids = [
      await publish({ kind: 'sharing.set', enterpriseId: 'E-ord-i', enabled: true, memberIds: big }),
      await publish({ kind: 'members.associate', enterpriseId: 'E-ord-j', memberIds: ['ord-j-1'] }),
    ];
    // The small association of another enterprise finishes while the large batch still runs.
    await waitForFinal(h.service.db, [ids[1]!], 60_000);
    expect((await h.request('GET', `/v1/operations/${ids[0]}`)).body.waitingFor).toEqual([]);
    await waitForFinal(h.service.db, ids, 120_000);
    await expectLedgerConsistent(h.service.db, published);
  }, 300_000);
});

// Random sequences of small operations of every kind over a few members, enterprises and coupons,
// published back to back: the property is the ledger check itself, outcomes included.
const pool = (run: number) => ({
  enterprises: [`E-p${run}-a`, `E-p${run}-b`],
  members: memberIds(`p${run}`, 12),
  coupons: [`C-p${run}-0`, `C-p${run}-1`, `C-p${run}-2`],
});
type Pool = ReturnType<typeof pool>;

const amount = fc.integer({ min: 1, max: 3_000 }).map((cents) => (cents / 100).toFixed(2));

/** A batch of members, small or (rarely) over a chunk, with repeats: a pool of 12 makes them likely. */
const batchOf = <T>(item: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 5, arbitrary: fc.array(item, { minLength: 1, maxLength: 8 }) },
    {
      weight: 1,
      arbitrary: fc.array(item, { minLength: 101, maxLength: 140 }),
    },
  );

function operationOf(p: Pool): fc.Arbitrary<Record<string, unknown>> {
  const enterpriseId = fc.constantFrom(...p.enterprises);
  const memberId = fc.constantFrom(...p.members);
  const couponId = fc.constantFrom(...p.coupons);
  return fc.oneof(
    fc.record({ kind: fc.constant('members.associate'), enterpriseId, memberIds: batchOf(memberId) }),
    fc.record({ kind: fc.constant('members.dissociate'), enterpriseId, memberIds: batchOf(memberId) }),
    fc.record({ kind: fc.constant('sharing.set'), enterpriseId, enabled: fc.boolean(), memberIds: batchOf(memberId) }),
    fc.record({ kind: fc.constant('sharing.set-default'), enterpriseId, shareWithNewMembers: fc.boolean() }),
    fc
      .record({
        kind: fc.constant('coupons.issue'),
        enterpriseId,
        coupons: fc.array(
          fc.record({
            id: couponId,
            face: fc.constantFrom('50.00', '80.00'),
            mode: fc.constantFrom('once', 'multiple'),
          }),
          { minLength: 1, maxLength: 3 },
        ),
      })
      .map(({ coupons, ...rest }) => ({
        ...rest,
        coupons: coupons.map((c) => ({
          ...coupon(c.id, c.face, c.mode as 'once' | 'multiple'),
          validFrom: FROM,
          validUntil: UNTIL,
        })),
      })),
    fc.record({
      kind: fc.constant('coupons.allocate'),
      enterpriseId,
      couponId,
      allocations: batchOf(fc.record({ memberId, amount })),
    }),
    fc.record({
      kind: fc.constant('coupons.revoke'),
      enterpriseId,
      couponId,
      revocations: batchOf(fc.record({ memberId, amount }, { requiredKeys: ['memberId'] })),
    }),
  );
}
// Fixed windows, so that issuing the same coupon twice is the same terms.
const FROM = new Date(Date.now() - DAY).toISOString();
const UNTIL = new Date(Date.now() + 30 * DAY).toISOString();

describe('random operations of every kind, published back to back', () => {
  it('end exactly as in publication order', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer().chain(() => {
          run += 1;
          return fc.array(operationOf(pool(run)), { minLength: 4, maxLength: 14 });
        }),
        async (operations) => {
          await publishBackToBack(operations, 120_000);
          await expectLedgerConsistent(h.service.db, published);
        },
      ),
      // Each run leaves its rows behind, so shrinking would replay on another state: none.
      { numRuns: Number(process.env.ORDER_RUNS ?? 12), endOnFailure: true },
    );
  }, 600_000);
});
