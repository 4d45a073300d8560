import fc from 'fast-check';
import { sql } from 'kysely';
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

// Random sequences of small operations of every kind over a few members, enterprises, coupons,
// packages and usage records, published back to back: the property is the ledger check itself,
// outcomes included.
const pool = (run: number) => ({
  enterprises: [`E-p${run}-a`, `E-p${run}-b`],
  members: memberIds(`p${run}`, 12),
  coupons: [`C-p${run}-0`, `C-p${run}-1`, `C-p${run}-2`],
  packages: [0, 1, 2, 3, 4].map((i) => `P-p${run}-${i}`),
  records: Array.from({ length: 10 }, (_, i) => `R-p${run}-${i}`),
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

// Times fixed for the whole file, in whole seconds, so that the same package, coupon or record
// issued again has the same terms. Windows are [from, until): each usage time is valid in some.
const NOW = Math.floor(Date.now() / 1000) * 1000;
const at = (days: number) => new Date(NOW + days * DAY).toISOString();
const WINDOWS = {
  long: { validFrom: at(-200), validUntil: at(60) },
  expired: { validFrom: at(-200), validUntil: at(-40) },
  short: { validFrom: at(-25), validUntil: at(-5) },
};
/** When usage happened: before the lookback (60 days), at `short`'s start, inside it, at its end (excluded). */
const USED_AT = [at(-60), at(-25), at(-10), at(-5)];

/**
 * A package id fixes its product and window (two of them tie, so the first issued goes first);
 * owner and quantity are drawn, so issuing an id again is sometimes the same terms.
 */
function packagesOf(p: Pool) {
  const terms = [
    { product: 'ecs', ...WINDOWS.long },
    { product: 'ecs', ...WINDOWS.long },
    { product: 'ecs', ...WINDOWS.short },
    { product: 'ecs', ...WINDOWS.expired },
    { product: 'obs', ...WINDOWS.long },
  ];
  const item = fc
    .record({
      index: fc.integer({ min: 0, max: p.packages.length - 1 }),
      owner: fc.constantFrom('master', 'master', p.members[0]!, p.members[1]!, p.members[2]!),
      quantity: fc.constantFrom('1', '2.5', '0.5', '0.000001'),
    })
    .map(({ index, owner, quantity }) => ({
      packageId: p.packages[index]!,
      owner,
      ...terms[index]!,
      unit: 'hour',
      quantity,
    }));
  return fc.array(item, { minLength: 1, maxLength: 3 });
}

// Indexed by record (10 of them): quantity 1 comes with odd amounts, so a package with half a unit
// left (0.5, or 2.5 after two) prices the other half at exactly half a cent.
const QUANTITIES = ['1', '0.5', '3.333333', '1'];
const AMOUNTS = ['0.00', '0.01', '0.05', '9.99', '10.00', '33.33'];

/**
 * A record id fixes its product and when it was used; usually its member, quantity and amount
 * too (sent again: `unchanged`), else they are drawn (mostly a `record_conflict`). Amounts and
 * quantities make the pro rata price land on and around half a cent.
 */
function recordOf(p: Pool) {
  const index = fc.integer({ min: 0, max: p.records.length - 1 });
  const usual = index.map((i) => ({
    index: i,
    other: false,
    quantity: QUANTITIES[i % QUANTITIES.length]!,
    amount: AMOUNTS[i % AMOUNTS.length]!,
  }));
  const drawn = fc.record({
    index,
    other: fc.boolean(),
    quantity: fc.constantFrom(...QUANTITIES),
    amount: fc.constantFrom(...AMOUNTS),
  });
  return fc
    .oneof({ weight: 2, arbitrary: usual }, { weight: 1, arbitrary: drawn })
    .map(({ index, other, quantity, amount }) => ({
      recordId: p.records[index]!,
      memberId: p.members[(index % 3) + (other ? 3 : 0)]!,
      product: index % 5 === 4 ? 'obs' : 'ecs',
      quantity,
      amount,
      usedAt: USED_AT[index % USED_AT.length]!,
    }));
}

/** Coupon windows by id: two alike (tied on expiry), one expiring sooner and valid for `obs` too. */
const couponTerms = (couponId: string) =>
  couponId.endsWith('-2')
    ? { validFrom: at(-30), validUntil: at(20), products: ['ecs', 'obs'] }
    : { validFrom: at(-200), validUntil: at(30), products: ['ecs'] };

/**
 * What every run opens with, published back to back with the rest like any other operation: six
 * members associated with the first enterprise (sharing as the switch says), three coupons and
 * two master packages, each pair alike but for the order they were issued in (by two operations:
 * the first published goes first), then more packages and allocations: so that settlements have
 * something to draw on, and ties to break; and one record half covered by a member's own package.
 */
function openingOf(p: Pool): fc.Arbitrary<Record<string, unknown>[]> {
  const [enterpriseId] = p.enterprises;
  const coupons = (ids: string[]) => ids.map((id) => ({ ...coupon(id, '50.00'), ...couponTerms(id) }));
  const master = (index: number, quantity: string) => ({
    packageId: p.packages[index]!,
    owner: 'master',
    product: 'ecs',
    unit: 'hour',
    quantity,
    ...WINDOWS.long,
  });
  return fc
    .record({
      // Mostly on, so that members draw on the master's packages (and disabling them flags arrears).
      shareWithNewMembers: fc.constantFrom(true, true, false),
      packages: packagesOf(p),
      allocations: fc.array(fc.record({ memberId: fc.constantFrom(...p.members.slice(0, 6)), amount }), {
        minLength: 1,
        maxLength: 4,
      }),
      // An odd number of cents for a record half covered: exactly half a cent to round (up).
      oddAmount: fc.constantFrom('0.01', '0.05', '0.25', '33.33'),
    })
    .map(({ shareWithNewMembers, packages, allocations, oddAmount }) => [
      { kind: 'sharing.set-default', enterpriseId, shareWithNewMembers },
      { kind: 'members.associate', enterpriseId, memberIds: p.members.slice(0, 6) },
      { kind: 'coupons.issue', enterpriseId, coupons: coupons([p.coupons[1]!]) },
      { kind: 'coupons.issue', enterpriseId, coupons: coupons([p.coupons[0]!, p.coupons[2]!]) },
      { kind: 'packages.issue', enterpriseId, packages: [master(1, '1')] },
      { kind: 'packages.issue', enterpriseId, packages: [master(0, '2.5'), ...packages] },
      { kind: 'coupons.allocate', enterpriseId, couponId: p.coupons[2], allocations },
      {
        kind: 'packages.issue',
        enterpriseId,
        packages: [{ ...master(0, '0.5'), packageId: `${p.packages[0]}-half`, owner: p.members[5], product: 'gpu' }],
      },
      {
        kind: 'usage.settle',
        enterpriseId,
        records: [
          {
            recordId: `${p.records[0]}-half`,
            memberId: p.members[5],
            product: 'gpu',
            quantity: '1',
            amount: oddAmount,
            usedAt: USED_AT[2],
          },
        ],
      },
    ]);
}

/** Every run closes by disabling the opening's members: those that drew on the master's packages lately are flagged. */
const closingOf = (p: Pool) => ({
  kind: 'sharing.set',
  enterpriseId: p.enterprises[0],
  enabled: false,
  memberIds: p.members.slice(0, 6),
});

function operationOf(p: Pool): fc.Arbitrary<Record<string, unknown>> {
  // Mostly the first enterprise, where the opening operations put members, coupons and packages.
  const enterpriseId = fc.constantFrom(p.enterprises[0]!, p.enterprises[0]!, p.enterprises[0]!, p.enterprises[1]!);
  // The six members of the opening (who settle usage) twice as often as the others.
  const memberId = fc.constantFrom(...p.members.slice(0, 6), ...p.members);
  const couponId = fc.constantFrom(...p.coupons);
  return fc.oneof(
    // Weighted so that settlements often find members associated, packages loaded and coupons held.
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('members.associate'), enterpriseId, memberIds: batchOf(memberId) }),
    },
    fc.record({ kind: fc.constant('members.dissociate'), enterpriseId, memberIds: batchOf(memberId) }),
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('sharing.set'),
        enterpriseId,
        enabled: fc.boolean(),
        memberIds: batchOf(memberId),
      }),
    },
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
          ...couponTerms(c.id),
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
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('packages.issue'), enterpriseId, packages: packagesOf(p) }) },
    {
      weight: 3,
      arbitrary: fc.record({ kind: fc.constant('usage.settle'), enterpriseId, records: batchOf(recordOf(p)) }),
    },
  );
}

describe('random operations of every kind, published back to back', () => {
  it('end exactly as in publication order', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer().chain(() => {
          run += 1;
          const p = pool(run);
          return fc
            .tuple(openingOf(p), fc.array(operationOf(p), { minLength: 4, maxLength: 14 }))
            .map(([opening, rest]) => [...opening, ...rest, closingOf(p)]);
        }),
        async (operations) => {
          await publishBackToBack(operations, 120_000);
          await expectLedgerConsistent(h.service.db, published);
        },
      ),
      // Each run leaves its rows behind, so shrinking would replay on another state: none.
      { numRuns: Number(process.env.ORDER_RUNS ?? 12), endOnFailure: true },
    );
    // What the runs reached, so that a generator that stops reaching a rule shows here.
    const { rows: outcomes } = await sql<{ kind: string; outcome: string; n: number }>`
      SELECT o.kind, coalesce(r.reason, h.outcome) AS outcome, count(*)::int AS n
      FROM operations o
      LEFT JOIN (SELECT operation_id, outcome FROM package_history UNION ALL SELECT operation_id, outcome FROM usage_history) h
        ON h.operation_id = o.operation_id
      LEFT JOIN operation_rejections r ON r.operation_id = o.operation_id AND h.operation_id IS NULL
      WHERE o.kind IN ('packages.issue', 'usage.settle') GROUP BY 1, 2 ORDER BY 1, 2`.execute(h.service.db);
    const { rows: lines } = await sql<{ source: string; n: number }>`
      SELECT source, count(*)::int AS n FROM usage_lines GROUP BY 1 ORDER BY 1`.execute(h.service.db);
    const { rows: edges } = await sql<{ arrears: number; halves: number }>`
      SELECT (SELECT count(*) FROM sharing_history WHERE arrears_risk)::int AS arrears,
             (SELECT count(*) FROM usage_records
              WHERE (2 * amount_cents * uncovered_micros) % (2 * quantity_micros) = quantity_micros)::int AS halves`.execute(
      h.service.db,
    );
    console.info(
      `[order] settlement outcomes ${JSON.stringify(outcomes)}; lines ${JSON.stringify(lines)}; ` +
        `arrears flags ${edges[0]!.arrears}; priced at exactly half a cent ${edges[0]!.halves}`,
    );
  }, 600_000);
});
