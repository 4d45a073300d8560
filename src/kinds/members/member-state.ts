import type { AppliedOutcome, ItemRef, Rejection } from '../../domain/outcomes.js';

export interface MemberState {
  memberId: string;
  /** null when the account is known but not associated with any enterprise. */
  enterpriseId: string | null;
  sharingEnabled: boolean;
  lastSeq: number;
}

/** The operation a chunk belongs to, as far as member rules care. */
export interface OperationContext {
  seq: number;
  enterpriseId: string;
}

export type MemberAction = 'associate' | 'dissociate' | 'enable' | 'disable';

export interface MemberChange extends ItemRef {
  action: MemberAction;
  outcome: AppliedOutcome;
  /** Sharing state before and after, null where the account was (or ends) not associated. */
  sharingBefore: boolean | null;
  sharingAfter: boolean | null;
  /** The row to write, or null when the member's row must stay as it is (superseded). */
  next: MemberState | null;
  /** Disabled after drawing on the master's packages lately: the publisher warns the member. */
  arrearsRisk?: boolean;
}

export type MemberDecision = MemberChange | Rejection;

export const isRejection = (d: MemberDecision): d is Rejection => 'reason' in d;

/** An operation published before the last one applied to a member must not overwrite it. */
export function isSupersededFor(state: MemberState, ctx: OperationContext): boolean {
  return state.lastSeq > ctx.seq;
}

export function supersededChange(item: ItemRef, action: MemberAction, state: MemberState): MemberChange {
  const current = state.enterpriseId === null ? null : state.sharingEnabled;
  return { ...item, action, outcome: 'superseded', sharingBefore: current, sharingAfter: current, next: null };
}
