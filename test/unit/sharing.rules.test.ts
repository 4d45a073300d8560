import { describe, expect, it } from 'vitest';
import { decideMemberChunk } from '../../src/kinds/members/member-chunk.rules.js';
import type { MemberState } from '../../src/kinds/members/member-state.js';
import { decideAssociate, decideDissociate } from '../../src/kinds/members/membership.rules.js';
import { decideSetDefault, decideSharingSet } from '../../src/kinds/sharing/sharing.rules.js';

const ctx = { seq: 10, enterpriseId: 'E1' };
const item = { position: 0, memberId: 'm1' };
const member = (over: Partial<MemberState> = {}): MemberState => ({
  memberId: 'm1',
  enterpriseId: 'E1',
  sharingEnabled: false,
  lastSeq: 5,
  ...over,
});

describe('sharing.set rules', () => {
  it('enables a disabled member', () => {
    expect(decideSharingSet(ctx, true, item, member())).toMatchObject({
      outcome: 'applied',
      sharingBefore: false,
      sharingAfter: true,
      next: { sharingEnabled: true, lastSeq: 10 },
    });
  });

  it('setting the current state again is unchanged but still moves the sequence', () => {
    expect(decideSharingSet(ctx, false, item, member())).toMatchObject({ outcome: 'unchanged', next: { lastSeq: 10 } });
  });

  it('rejects an account that is not a member of this enterprise', () => {
    expect(decideSharingSet(ctx, true, item, undefined)).toEqual({ ...item, reason: 'not_a_member' });
    expect(decideSharingSet(ctx, true, item, member({ enterpriseId: 'E2' }))).toEqual({
      ...item,
      reason: 'not_a_member',
    });
    expect(decideSharingSet(ctx, true, item, member({ enterpriseId: null }))).toEqual({
      ...item,
      reason: 'not_a_member',
    });
  });

  it('an operation published before the last one applied is superseded and writes nothing', () => {
    expect(decideSharingSet(ctx, true, item, member({ lastSeq: 11, sharingEnabled: false }))).toMatchObject({
      outcome: 'superseded',
      sharingBefore: false,
      sharingAfter: false,
      next: null,
    });
  });
});

describe('membership rules', () => {
  it('a new member takes the switch as it is when it is associated', () => {
    expect(decideAssociate(ctx, true, item, undefined)).toMatchObject({ outcome: 'applied', sharingAfter: true });
    expect(decideAssociate(ctx, false, item, member({ enterpriseId: null, lastSeq: 0 }))).toMatchObject({
      outcome: 'applied',
      sharingBefore: null,
      sharingAfter: false,
      next: { enterpriseId: 'E1', sharingEnabled: false, lastSeq: 10 },
    });
  });

  it('re-associating a member keeps its sharing state', () => {
    expect(decideAssociate(ctx, false, item, member({ sharingEnabled: true }))).toMatchObject({
      outcome: 'unchanged',
      sharingAfter: true,
    });
  });

  it('refuses an account associated with another enterprise', () => {
    expect(decideAssociate(ctx, true, item, member({ enterpriseId: 'E2' }))).toEqual({
      ...item,
      reason: 'associated_elsewhere',
    });
  });

  it('dissociates members only', () => {
    expect(decideDissociate(ctx, item, member({ sharingEnabled: true }))).toMatchObject({
      outcome: 'applied',
      sharingBefore: true,
      sharingAfter: null,
      next: { enterpriseId: null, sharingEnabled: false },
    });
    expect(decideDissociate(ctx, item, undefined)).toEqual({ ...item, reason: 'not_a_member' });
  });
});

describe('share-with-new-members switch', () => {
  it('applies, reports unchanged, and ignores an older change arriving late', () => {
    expect(decideSetDefault(10, true, { shareWithNewMembers: false, defaultSeq: 3 })).toEqual({
      outcome: 'applied',
      before: false,
      after: true,
      next: { shareWithNewMembers: true, defaultSeq: 10 },
    });
    expect(decideSetDefault(10, true, { shareWithNewMembers: true, defaultSeq: 3 }).outcome).toBe('unchanged');
    expect(decideSetDefault(10, false, { shareWithNewMembers: true, defaultSeq: 12 })).toMatchObject({
      outcome: 'superseded',
      next: null,
    });
  });
});

describe('a chunk of member items', () => {
  it('applies the first occurrence of a member and rejects repeats, also across chunks', () => {
    const states = new Map([
      ['a', member({ memberId: 'a' })],
      ['b', member({ memberId: 'b' })],
      ['c', member({ memberId: 'c' })],
    ]);
    const decision = decideMemberChunk(ctx, ['a', 'b', 'a', 'c', 'x'], 200, states, new Set(['c']), (c, i, s) =>
      decideSharingSet(c, true, i, s),
    );
    expect(decision.changes.map((c) => [c.position, c.memberId])).toEqual([
      [200, 'a'],
      [201, 'b'],
    ]);
    expect(decision.rejections).toEqual([
      { position: 202, memberId: 'a', reason: 'duplicate_item' },
      { position: 203, memberId: 'c', reason: 'duplicate_item' },
      { position: 204, memberId: 'x', reason: 'not_a_member' },
    ]);
    expect(decision.counts).toEqual({ applied: 2, unchanged: 0, superseded: 0, rejected: 3 });
    expect(decision.nextStates).toHaveLength(2);
  });
});
