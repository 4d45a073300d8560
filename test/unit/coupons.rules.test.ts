import { describe, expect, it } from 'vitest';
import { decideIssue } from '../../src/kinds/coupons/coupon-issue.rules.js';
import {
  decideAllocations,
  decideRevocations,
  holdsForAnyCoveringBalance,
  type MemberLedgerState,
} from '../../src/kinds/coupons/coupon-ledger.rules.js';
import { type CouponState, isAllocatable } from '../../src/kinds/coupons/coupon.rules.js';
import { formatCents, parseAmount } from '../../src/domain/money.js';
import { amountSchema } from '../../src/contract/index.js';

describe('money', () => {
  it('parses decimal strings into exact cents and back', () => {
    expect(parseAmount('12.5')).toBe(1250);
    expect(parseAmount('12.50')).toBe(1250);
    expect(parseAmount('0.01')).toBe(1);
    expect(parseAmount('100')).toBe(10000);
    expect(formatCents(1250)).toBe('12.50');
    expect(formatCents(5)).toBe('0.05');
    expect(formatCents(-305)).toBe('-3.05');
    let total = 0;
    for (let i = 0; i < 30; i += 1) total += parseAmount('0.10');
    expect(formatCents(total)).toBe('3.00');
  });

  it.each([
    '-1.00',
    '1.234',
    '1e3',
    'NaN',
    'Infinity',
    '',
    ' 1',
    '1.',
    '.5',
    '0',
    '0.00',
    '01.00',
    '1,00',
    '99999999999999',
  ])('refuses %j as an amount', (text) => {
    expect(amountSchema.safeParse(text).success).toBe(false);
  });

  it('refuses non-strings', () => {
    for (const value of [12.5, null, true, { amount: '1' }]) expect(amountSchema.safeParse(value).success).toBe(false);
  });
});

const now = new Date('2026-06-01T00:00:00Z');
const coupon = (over: Partial<CouponState> = {}): CouponState => ({
  couponId: 'C1',
  enterpriseId: 'E1',
  faceValueCents: 10_000,
  balanceCents: 10_000,
  allocationMode: 'multiple',
  validFrom: new Date('2026-01-01T00:00:00Z'),
  validUntil: new Date('2026-12-31T00:00:00Z'),
  allocationOperationId: null,
  ...over,
});
const ctx = { operationId: 'op-1', enterpriseId: 'E1', now };
const member = (over: Partial<MemberLedgerState> = {}): MemberLedgerState => ({
  associated: true,
  holding: null,
  seenInOperation: false,
  ...over,
});

describe('allocations', () => {
  it('allocates in order and rejects what the balance cannot cover, never splitting an amount', () => {
    const members = new Map([
      ['a', member()],
      ['b', member()],
      ['c', member()],
      ['x', member({ associated: false })],
    ]);
    const d = decideAllocations(
      ctx,
      coupon({ balanceCents: 5_000 }),
      [
        { position: 0, memberId: 'a', amountCents: 3_000 },
        { position: 1, memberId: 'b', amountCents: 2_500 },
        { position: 2, memberId: 'c', amountCents: 2_000 },
        { position: 3, memberId: 'x', amountCents: 1 },
        { position: 4, memberId: 'a', amountCents: 1 },
      ],
      0,
      members,
    );
    expect(d.entries.map((e) => [e.memberId, e.amountCents, e.couponBalanceAfterCents])).toEqual([
      ['a', 3_000, 2_000],
      ['c', 2_000, 0],
    ]);
    expect(d.rejections.map((r) => [r.position, r.reason])).toEqual([
      [1, 'insufficient_balance'],
      [3, 'not_a_member'],
      [4, 'duplicate_item'],
    ]);
    expect(d.coupon?.balanceCents).toBe(0);
    expect(d.holdings.get('a')).toEqual({ allocatedCents: 3_000, revokedCents: 0, spentCents: 0, unusedCents: 3_000 });
  });

  it('refuses every item of an expired, not yet valid, unknown or already allocated once coupon', () => {
    const items = [{ position: 0, memberId: 'a', amountCents: 100 }];
    const members = new Map([['a', member()]]);
    const reason = (c: CouponState | undefined) => decideAllocations(ctx, c, items, 0, members).rejections[0]?.reason;
    expect(reason(coupon({ validUntil: new Date('2026-05-01T00:00:00Z') }))).toBe('coupon_expired');
    expect(reason(coupon({ validFrom: new Date('2026-07-01T00:00:00Z') }))).toBe('coupon_not_yet_valid');
    expect(reason(undefined)).toBe('unknown_coupon');
    expect(reason(coupon({ enterpriseId: 'E2' }))).toBe('unknown_coupon');
    expect(reason(coupon({ allocationMode: 'once', allocationOperationId: 'op-0' }))).toBe('coupon_not_allocatable');
  });

  it('a once coupon is taken by the first chunk of its operation and stays open to that operation', () => {
    const items = [{ position: 0, memberId: 'a', amountCents: 100 }];
    const first = decideAllocations(ctx, coupon({ allocationMode: 'once' }), items, 0, new Map([['a', member()]]));
    expect(first.coupon?.allocationOperationId).toBe('op-1');
    const later = decideAllocations(
      ctx,
      first.coupon!,
      [{ position: 100, memberId: 'b', amountCents: 100 }],
      100,
      new Map([['b', member()]]),
    );
    expect(later.entries).toHaveLength(1);
    expect(isAllocatable(later.coupon!, now)).toBe(false);
    expect(isAllocatable(coupon(), now)).toBe(true);
  });
});

describe('allocations decided from a coupon read without its lock', () => {
  const items = [
    { position: 0, memberId: 'a', amountCents: 3_000 },
    { position: 1, memberId: 'x', amountCents: 1 },
  ];
  const members = new Map([
    ['a', member()],
    ['x', member({ associated: false })],
  ]);
  const holds = (c: CouponState | undefined) =>
    holdsForAnyCoveringBalance(c, decideAllocations(ctx, c, items, 0, members));

  it('stand whatever the balance when it covered every amount and nothing about the coupon changes', () => {
    expect(holds(coupon())).toBe(true);
    // Every item refused for a reason that no balance changes: nothing to draw.
    expect(holds(coupon({ validUntil: new Date('2026-05-01T00:00:00Z') }))).toBe(true);
    expect(holds(undefined)).toBe(true);
    // A once coupon this operation has already taken.
    expect(holds(coupon({ allocationMode: 'once', allocationOperationId: 'op-1' }))).toBe(true);
  });

  it('do not when an item was refused for the balance read, or the chunk takes a once coupon', () => {
    expect(holds(coupon({ balanceCents: 2_000 }))).toBe(false);
    expect(holds(coupon({ allocationMode: 'once' }))).toBe(false);
  });
});

describe('revocations', () => {
  const holding = { allocatedCents: 1_000, revokedCents: 0, spentCents: 0, unusedCents: 1_000 };
  it('takes back all or part of the unused amount and returns it to the coupon', () => {
    const members = new Map([
      ['a', member({ holding })],
      ['b', member({ holding })],
      ['c', member({ holding })],
      ['d', member()],
      ['x', member({ associated: false })],
    ]);
    const d = decideRevocations(
      ctx,
      coupon({ balanceCents: 7_000 }),
      [
        { position: 0, memberId: 'a' },
        { position: 1, memberId: 'b', amountCents: 250 },
        { position: 2, memberId: 'c', amountCents: 1_001 },
        { position: 3, memberId: 'd' },
        { position: 4, memberId: 'x' },
      ],
      0,
      members,
    );
    expect(
      d.entries.map((e) => [e.memberId, e.amountCents, e.couponBalanceAfterCents, e.memberBalanceAfterCents]),
    ).toEqual([
      ['a', 1_000, 8_000, 0],
      ['b', 250, 8_250, 750],
    ]);
    expect(d.rejections.map((r) => r.reason)).toEqual([
      'amount_exceeds_recoverable',
      'nothing_to_revoke',
      'not_a_member',
    ]);
    expect(d.holdings.get('b')).toEqual({ allocatedCents: 1_000, revokedCents: 250, spentCents: 0, unusedCents: 750 });
  });
});

describe('issuing coupons', () => {
  const spec = {
    couponId: 'C9',
    faceValueCents: 500,
    allocationMode: 'once' as const,
    validFrom: new Date('2026-01-01T00:00:00Z'),
    validUntil: new Date('2026-02-01T00:00:00Z'),
    products: ['ecs'],
  };
  it('issues new coupons, leaves identical ones unchanged and refuses a reused id', () => {
    const existing = new Map([
      ['C9', { ...spec, enterpriseId: 'E1', balanceCents: 500, allocationOperationId: null }],
      ['C8', { ...spec, couponId: 'C8', enterpriseId: 'E2', balanceCents: 500, allocationOperationId: null }],
    ]);
    const d = decideIssue(
      'E1',
      [{ ...spec, couponId: 'C7' }, spec, { ...spec, couponId: 'C8' }, { ...spec, couponId: 'C7' }],
      0,
      existing,
      new Set(),
    );
    expect(d.issued.map((c) => [c.couponId, c.outcome])).toEqual([
      ['C7', 'applied'],
      ['C9', 'unchanged'],
    ]);
    expect(d.rejections).toEqual([
      { position: 2, memberId: null, couponId: 'C8', reason: 'coupon_exists' },
      { position: 3, memberId: null, couponId: 'C7', reason: 'duplicate_item' },
    ]);
  });
});
