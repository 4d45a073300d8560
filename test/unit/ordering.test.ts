import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exactRepeats, KeySieve, repeatsAmong, repeatsOf } from '../../src/domain/repeats.js';
import {
  type Claim,
  ClaimIndex,
  classesAbove,
  conflict,
  mergeClaims,
  probeFor,
  reads,
  writes,
} from '../../src/domain/ordering/claims.js';
import { chunkClaims, operationClaims, TRACKED_ITEMS_MAX } from '../../src/domain/ordering/operation-claims.js';
import { couponsAllocate } from '../../src/kinds/coupons/allocate.kind.js';
import { membersAssociate } from '../../src/kinds/members/associate.kind.js';
import { sharingSet } from '../../src/kinds/sharing/sharing-set.kind.js';

describe('claims', () => {
  it('names the classes a path lies below, nearest first', () => {
    expect(classesAbove('E1/member/m1')).toEqual(['E1/member/*', 'E1/*']);
    expect(classesAbove('E1/member/*')).toEqual(['E1/*']);
    expect(classesAbove('member/m1')).toEqual(['member/*']);
    expect(classesAbove('E1')).toEqual([]);
  });

  it('conflict when one writes what the other reads or writes, on the path or below a class', () => {
    expect(conflict(reads('E1/member/m1'), reads('E1/member/m1'))).toBe(false);
    expect(conflict(reads('E1/member/m1'), writes('E1/member/m1'))).toBe(true);
    expect(conflict(writes('E1/member/*'), reads('E1/member/m1'))).toBe(true);
    expect(conflict(reads('E1/member/m1'), writes('E1/member/*'))).toBe(true);
    expect(conflict(writes('E1/member/*'), writes('E10/member/m1'))).toBe(false);
    expect(conflict(writes('E1/member/m1'), writes('E1/member/m2'))).toBe(false);
    expect(conflict(writes('E1/*'), reads('E1/coupon/c'))).toBe(true);
  });

  it('merges claims on one path into one, writing where any writes', () => {
    expect(mergeClaims([reads('a/b'), writes('a/b'), reads('a/c')])).toEqual([writes('a/b'), reads('a/c')]);
  });

  const path = fc
    .tuple(fc.constantFrom('E1', 'E10', 'E2'), fc.constantFrom('member', 'coupon'), fc.constantFrom('m1', 'm2', '*'))
    .map(([e, kind, id]) => `${e}/${kind}/${id}`);
  const claim = fc.record({ path: fc.oneof(path, fc.constantFrom('E1/*', 'E2/*')), write: fc.boolean() });

  it('an index finds exactly the held claims that conflict (against conflict, pair by pair)', () => {
    fc.assert(
      fc.property(fc.array(claim, { maxLength: 12 }), fc.array(claim, { maxLength: 6 }), (held, mine) => {
        const index = new ClaimIndex(held.map((c, seq) => ({ ...c, seq })));
        const expected = new Set(held.flatMap((h, seq) => (mine.some((m) => conflict(h, m)) ? [seq] : [])));
        expect(index.conflicting(mine)).toEqual(expected);
      }),
    );
  });

  it('a probe looks up each path and the classes above it, and the range below each class', () => {
    const probe = probeFor([reads('E1/member/m1'), writes('E1/member/m2'), writes('E1/coupon/*')]);
    expect(Object.fromEntries(probe.exact.paths.map((p, i) => [p, probe.exact.writes[i]]))).toEqual({
      'E1/member/m1': false,
      'E1/member/*': true,
      'E1/*': true,
      'E1/member/m2': true,
      'E1/coupon/*': true,
    });
    expect(probe.below).toEqual({ from: ['E1/coupon/'], to: ['E1/coupon0'], writes: [true] });
  });
});

describe('what operations claim', () => {
  const header = { enterpriseId: 'E1', params: { couponId: 'C1' } };
  it('claims a small batch item by item and a large one by class', () => {
    expect(operationClaims(sharingSet.claims, header, ['m1', 'm2'])).toEqual([
      writes('E1/member/m1'),
      writes('E1/member/m2'),
    ]);
    const many = Array.from({ length: TRACKED_ITEMS_MAX + 1 }, (_, i) => `m${i}`);
    expect(operationClaims(sharingSet.claims, header, many)).toEqual([writes('E1/member/*')]);
    expect(operationClaims(membersAssociate.claims, header, null)).toEqual([
      reads('E1/switch'),
      writes('member/*'),
      writes('E1/member/*'),
    ]);
  });

  it('an allocation writes its coupon and reads its members; one chunk claims its own items', () => {
    const claims: Claim[] = chunkClaims(couponsAllocate.claims, header, [{ memberId: 'm1' }]);
    expect(claims).toEqual([writes('E1/coupon/C1'), reads('E1/member/m1')]);
    // Allocations on different coupons do not conflict; an association of the member does.
    const other = chunkClaims(couponsAllocate.claims, { ...header, params: { couponId: 'C2' } }, [{ memberId: 'm1' }]);
    expect(claims.some((a) => other.some((b) => conflict(a, b)))).toBe(false);
    const join = chunkClaims(membersAssociate.claims, header, ['m1']);
    expect(claims.some((a) => join.some((b) => conflict(a, b)))).toBe(true);
  });
});

describe('repeats', () => {
  it('marks every occurrence after the first, in memory or through a sieve', () => {
    const keys = ['a', 'b', 'a', 'c', 'b', 'a'];
    const finder = exactRepeats();
    expect(keys.map((k) => finder.isRepeat(k))).toEqual([false, false, true, false, true, true]);
    const sieve = new KeySieve();
    for (const k of keys) sieve.add(k);
    expect([...sieve.candidates].sort()).toEqual(['a', 'b']);
    const second = repeatsAmong(sieve.candidates);
    expect(keys.map((k) => second.isRepeat(k))).toEqual([false, false, true, false, true, true]);
  });

  it('finds the same repeats in a large batch as a Set of every key would', () => {
    const items = Array.from({ length: 30_000 }, (_, i) => `m${i % 29_000}`);
    const sieved = repeatsOf(items, String);
    const exact = exactRepeats();
    expect(items.map((k) => sieved.isRepeat(k))).toEqual(items.map((k) => exact.isRepeat(k)));
  });
});
