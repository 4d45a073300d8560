import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pricePart } from '../../src/domain/money.js';
import { formatQuantity, parseQuantity } from '../../src/domain/quantity.js';
import { quantitySchema } from '../../src/contract/ids.js';
import { decidePackageIssue, type PackageTerms } from '../../src/kinds/packages/package.rules.js';
import { flagArrearsRisk } from '../../src/kinds/sharing/sharing.rules.js';
import {
  type CouponPot,
  decideSettlements,
  type PackagePot,
  type SettlementState,
  type UsageItem,
} from '../../src/kinds/usage/settlement.rules.js';

const at = (iso: string) => new Date(iso);
const FROM = at('2026-01-01T00:00:00Z');
const UNTIL = at('2027-01-01T00:00:00Z');
const USED = at('2026-06-01T00:00:00Z');

const pkg = (packageId: string, remaining: string, extra: Partial<PackagePot> = {}): PackagePot => ({
  packageId,
  ownerMemberId: null,
  product: 'ecs',
  validFrom: FROM,
  validUntil: UNTIL,
  issuedSeq: 1,
  remainingMicros: parseQuantity(remaining),
  ...extra,
});

const coupon = (couponId: string, unusedCents: number, extra: Partial<CouponPot> = {}): CouponPot => ({
  couponId,
  memberId: null,
  products: ['ecs'],
  validFrom: FROM,
  validUntil: UNTIL,
  issuedSeq: 1,
  unusedCents,
  ...extra,
});

const record = (
  recordId: string,
  quantity: string,
  amountCents: number,
  extra: Partial<UsageItem> = {},
): UsageItem => ({
  recordId,
  memberId: 'm1',
  product: 'ecs',
  quantityMicros: parseQuantity(quantity),
  amountCents,
  usedAt: USED,
  ...extra,
});

const state = (extra: Partial<SettlementState> = {}): SettlementState => ({
  settled: new Map(),
  members: new Map([['m1', { sharingEnabled: true }]]),
  packages: [],
  coupons: [],
  seenInOperation: new Set(),
  ...extra,
});

describe('quantities', () => {
  it('parses up to six fraction digits into exact millionths and prints them back shortest', () => {
    expect(parseQuantity('1')).toBe(1_000_000);
    expect(parseQuantity('0.000001')).toBe(1);
    expect(parseQuantity('2.5')).toBe(2_500_000);
    expect(parseQuantity('999999999.999999')).toBe(999_999_999_999_999);
    expect(formatQuantity(2_500_000)).toBe('2.5');
    expect(formatQuantity(3_000_000)).toBe('3');
    expect(formatQuantity(1)).toBe('0.000001');
  });

  it.each(['0', '0.0', '1.0000001', '-1', '1e3', '.5', '01', '1,5', '1000000000', ''])('refuses %j', (text) => {
    expect(quantitySchema.safeParse(text).success).toBe(false);
  });

  it('round-trips every quantity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999_999_999_999_999 }), (micros) => {
        expect(parseQuantity(formatQuantity(micros))).toBe(micros);
      }),
    );
  });
});

describe('pricing the uncovered part', () => {
  it('rounds half up to the cent', () => {
    // 1.00 × 1/3 = 0.333… → 0.33; 1.00 × 2/3 = 0.666… → 0.67
    expect(pricePart(100, 1, 3)).toBe(33);
    expect(pricePart(100, 2, 3)).toBe(67);
    // 0.01 × 1/2 = 0.005, exactly half a cent → 0.01
    expect(pricePart(1, 1, 2)).toBe(1);
    // 0.03 × 1/2 = 0.015 → 0.02; 0.05 × 1/10 = 0.005 → 0.01
    expect(pricePart(3, 1, 2)).toBe(2);
    expect(pricePart(5, 1, 10)).toBe(1);
    // just under half a cent goes down
    expect(pricePart(1, 499_999, 1_000_000)).toBe(0);
    expect(pricePart(1, 500_000, 1_000_000)).toBe(1);
    expect(pricePart(1234, 0, 7)).toBe(0);
    expect(pricePart(1234, 7, 7)).toBe(1234);
  });

  it('is exact for the largest amounts and quantities', () => {
    expect(pricePart(999_999_999_999_999, 999_999_999_999_998, 999_999_999_999_999)).toBe(999_999_999_999_998);
  });

  it('never prices a part above the whole, and the parts of a record add up within a cent each', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 1, max: 10_000_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (amount, quantity, share) => {
          const part = Math.floor(quantity * share);
          const price = pricePart(amount, part, quantity);
          expect(price).toBeGreaterThanOrEqual(0);
          expect(price).toBeLessThanOrEqual(amount);
          expect(Math.abs(price * quantity - amount * part)).toBeLessThanOrEqual(quantity / 2);
        },
      ),
    );
  });
});

describe('settling usage records', () => {
  it('draws own packages first, then the master packages, and prices only what is uncovered', () => {
    const decision = decideSettlements([record('r1', '10', 1000)], 0, {
      ...state(),
      packages: [pkg('master', '5'), pkg('own', '3', { ownerMemberId: 'm1' })],
      coupons: [coupon('c1', 10_000)],
    });
    const [s] = decision.settlements;
    expect(s!.lines).toEqual([
      { source: 'own_package', benefitId: 'own', quantityMicros: 3_000_000, amountCents: null },
      { source: 'master_package', benefitId: 'master', quantityMicros: 5_000_000, amountCents: null },
      { source: 'master_coupon', benefitId: 'c1', quantityMicros: null, amountCents: 200 },
    ]);
    expect(s).toMatchObject({ coveredMicros: 8_000_000, uncoveredMicros: 2_000_000, pricedCents: 200, paygCents: 0 });
    expect(decision.packages.get('master')).toEqual({ read: 5_000_000, remaining: 0 });
  });

  it('skips the master packages when the member shares nothing', () => {
    const decision = decideSettlements([record('r1', '1', 500)], 0, {
      ...state({ members: new Map([['m1', { sharingEnabled: false }]]) }),
      packages: [pkg('master', '5')],
    });
    expect(decision.settlements[0]!.lines).toEqual([
      { source: 'payg', benefitId: null, quantityMicros: null, amountCents: 500 },
    ]);
    expect(decision.packages.size).toBe(0);
  });

  it('orders packages by validUntil, then validFrom, then issue order, and uses only those valid at usedAt', () => {
    const packages = [
      pkg('late', '1', { validUntil: at('2026-12-01T00:00:00Z'), issuedSeq: 1 }),
      pkg('second-issued', '1', { validUntil: at('2026-07-01T00:00:00Z'), issuedSeq: 3 }),
      pkg('first-issued', '1', { validUntil: at('2026-07-01T00:00:00Z'), issuedSeq: 2 }),
      pkg('earlier-from', '1', {
        validUntil: at('2026-07-01T00:00:00Z'),
        validFrom: at('2025-01-01T00:00:00Z'),
        issuedSeq: 9,
      }),
      pkg('expired-at-use', '9', { validUntil: USED }),
      pkg('not-yet', '9', { validFrom: at('2026-06-01T00:00:01Z') }),
    ];
    const decision = decideSettlements([record('r1', '4', 0)], 0, { ...state(), packages });
    expect(decision.settlements[0]!.lines.map((l) => l.benefitId)).toEqual([
      'earlier-from',
      'first-issued',
      'second-issued',
      'late',
    ]);
  });

  it('pays from the member coupons first (soonest expiry, then smallest unused), then the master balances', () => {
    const coupons = [
      coupon('master-c', 10_000, { issuedSeq: 1 }),
      coupon('big', 500, { memberId: 'm1', issuedSeq: 2 }),
      coupon('small', 100, { memberId: 'm1', issuedSeq: 3 }),
      coupon('soon', 300, { memberId: 'm1', validUntil: at('2026-07-01T00:00:00Z'), issuedSeq: 4 }),
      coupon('other-product', 900, { memberId: 'm1', products: ['oss'] }),
      coupon('expired', 900, { memberId: 'm1', validUntil: USED }),
    ];
    const decision = decideSettlements([record('r1', '1', 1000)], 0, { ...state(), coupons });
    expect(decision.settlements[0]!.lines.map((l) => [l.benefitId, l.amountCents])).toEqual([
      ['soon', 300],
      ['small', 100],
      ['big', 500],
      ['master-c', 100],
    ]);
    expect(decision.coupons.get('master-c/')).toMatchObject({ read: 10_000, unused: 9_900 });
  });

  it('lets each record draw on what the records before it left, down to zero and no further', () => {
    const decision = decideSettlements([record('r1', '3', 300), record('r2', '3', 300), record('r3', '3', 300)], 0, {
      ...state(),
      packages: [pkg('p', '4')],
      coupons: [coupon('c', 250)],
    });
    expect(decision.settlements.map((s) => [s.coveredMicros, s.couponCents, s.paygCents])).toEqual([
      [3_000_000, 0, 0],
      [1_000_000, 200, 0],
      [0, 50, 250],
    ]);
    expect(decision.packages.get('p')!.remaining).toBe(0);
    expect(decision.coupons.get('c/')!.unused).toBe(0);
  });

  it('keeps every invariant for any records against any pots', () => {
    const pots = fc.record({
      packages: fc.array(fc.integer({ min: 1, max: 5_000_000 }), { maxLength: 4 }),
      coupons: fc.array(fc.integer({ min: 1, max: 500 }), { maxLength: 4 }),
    });
    const records = fc.array(
      fc.record({ quantity: fc.integer({ min: 1, max: 3_000_000 }), amount: fc.integer({ min: 0, max: 400 }) }),
      { minLength: 1, maxLength: 20 },
    );
    fc.assert(
      fc.property(pots, records, (p, rs) => {
        const packages = p.packages.map((r, i) => ({ ...pkg(`p${i}`, '1'), remainingMicros: r, issuedSeq: i }));
        const coupons = p.coupons.map((c, i) => coupon(`c${i}`, c, { issuedSeq: i }));
        const items = rs.map((r, i) => ({ ...record(`r${i}`, '1', r.amount), quantityMicros: r.quantity }));
        const decision = decideSettlements(items, 0, { ...state(), packages, coupons });
        for (const s of decision.settlements) {
          const drawn = s.lines.reduce((sum, l) => sum + (l.quantityMicros ?? 0), 0);
          const paid = s.lines.filter((l) => l.source !== 'payg').reduce((sum, l) => sum + (l.amountCents ?? 0), 0);
          expect(drawn + s.uncoveredMicros).toBe(s.quantityMicros);
          expect(paid + s.paygCents).toBe(s.pricedCents);
          expect(s.pricedCents).toBe(pricePart(s.amountCents, s.uncoveredMicros, s.quantityMicros));
        }
        const consumed = decision.settlements
          .flatMap((s) => s.lines)
          .reduce((sum, l) => sum + (l.quantityMicros ?? 0), 0);
        const left = [...decision.packages.values()].reduce((sum, d) => sum + (d.read - d.remaining), 0);
        expect(left).toBe(consumed);
        for (const d of decision.packages.values()) expect(d.remaining).toBeGreaterThanOrEqual(0);
        for (const d of decision.coupons.values()) expect(d.unused).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('settles a record once: the same content is unchanged, other content a conflict, a stranger not a member', () => {
    const settled = new Map([
      ['r1', { memberId: 'm1', product: 'ecs', quantityMicros: 1_000_000, amountCents: 100, usedAt: USED }],
    ]);
    const decision = decideSettlements(
      [record('r1', '1', 100), record('r1', '1', 100), record('r2', '1', 100, { memberId: 'x' })],
      0,
      { ...state({ settled }), packages: [pkg('p', '5')] },
    );
    expect(decision.unchanged).toEqual([{ position: 0, recordId: 'r1', memberId: 'm1' }]);
    expect(decision.rejections.map((r) => [r.position, r.reason])).toEqual([
      [1, 'duplicate_item'],
      [2, 'not_a_member'],
    ]);
    expect(decision.packages.size).toBe(0);
    const conflict = decideSettlements([record('r1', '1', 101)], 5, state({ settled }));
    expect(conflict.rejections).toEqual([{ position: 5, memberId: 'm1', recordId: 'r1', reason: 'record_conflict' }]);
  });
});

describe('issuing packages', () => {
  const terms = (packageId: string, owner: string | null = null): PackageTerms => ({
    packageId,
    ownerMemberId: owner,
    product: 'obs.traffic',
    unit: 'GB',
    quantityMicros: 100_000_000,
    validFrom: FROM,
    validUntil: UNTIL,
  });

  it('issues new packages, keeps the same terms unchanged and refuses other terms or unknown owners', () => {
    const existing = new Map([
      ['same', { ...terms('same'), enterpriseId: 'E1' }],
      ['other', { ...terms('other'), enterpriseId: 'E1', quantityMicros: 1 }],
      ['elsewhere', { ...terms('elsewhere'), enterpriseId: 'E2' }],
    ]);
    const decision = decidePackageIssue(
      'E1',
      [
        terms('new'),
        terms('same'),
        terms('other'),
        terms('elsewhere'),
        terms('mine', 'm1'),
        terms('stranger', 'x'),
        terms('new'),
      ],
      0,
      existing,
      new Set(['m1']),
      new Set(),
    );
    expect(decision.issued.map((p) => [p.packageId, p.outcome])).toEqual([
      ['new', 'applied'],
      ['same', 'unchanged'],
      ['mine', 'applied'],
    ]);
    expect(decision.rejections.map((r) => [r.packageId, r.reason])).toEqual([
      ['other', 'package_exists'],
      ['elsewhere', 'package_exists'],
      ['stranger', 'not_a_member'],
      ['new', 'duplicate_item'],
    ]);
  });
});

describe('arrears risk', () => {
  const change = {
    position: 0,
    memberId: 'm1',
    action: 'disable' as const,
    sharingBefore: true,
    sharingAfter: false,
    next: null,
  };

  it('flags a member disabled after drawing on the master packages lately, and nothing else', () => {
    const lately = new Set(['m1']);
    expect(flagArrearsRisk({ ...change, outcome: 'applied' }, lately)).toMatchObject({ arrearsRisk: true });
    expect(flagArrearsRisk({ ...change, outcome: 'unchanged' }, lately)).not.toHaveProperty('arrearsRisk');
    expect(flagArrearsRisk({ ...change, outcome: 'applied' }, new Set())).not.toHaveProperty('arrearsRisk');
    const rejection = { position: 0, memberId: 'm1', reason: 'not_a_member' as const };
    expect(flagArrearsRisk(rejection, lately)).toBe(rejection);
  });
});
