import type { AppliedOutcome, ItemRef } from '../../domain/outcomes.js';
import {
  isRejection,
  isSupersededFor,
  type MemberDecision,
  type MemberState,
  type OperationContext,
  supersededChange,
} from '../members/member-state.js';

/** Enabling or disabling sharing; the state it already has is `unchanged`, still a history row. */
export function decideSharingSet(
  ctx: OperationContext,
  enabled: boolean,
  item: ItemRef,
  state: MemberState | undefined,
): MemberDecision {
  if (!state || state.enterpriseId !== ctx.enterpriseId) return { ...item, reason: 'not_a_member' };
  const action = enabled ? 'enable' : 'disable';
  if (isSupersededFor(state, ctx)) return supersededChange(item, action, state);
  // Fields spelled out, not spread: this runs once per member of every batch, and V8 builds
  // spread copies on a slow path (about a tenth of the worker's time on a large sharing.set).
  return {
    position: item.position,
    memberId: item.memberId,
    action,
    outcome: state.sharingEnabled === enabled ? 'unchanged' : 'applied',
    sharingBefore: state.sharingEnabled,
    sharingAfter: enabled,
    next: { memberId: state.memberId, enterpriseId: state.enterpriseId, sharingEnabled: enabled, lastSeq: ctx.seq },
  };
}

export interface EnterpriseDefault {
  shareWithNewMembers: boolean;
  /** Sequence of the last switch change applied. */
  defaultSeq: number;
}

export interface DefaultDecision {
  outcome: AppliedOutcome;
  before: boolean;
  after: boolean;
  /** What to store, or null to leave the enterprise as it is. */
  next: EnterpriseDefault | null;
}

/** Flipping the switch affects only members associated afterwards: no member is touched here. */
export function decideSetDefault(
  seq: number,
  shareWithNewMembers: boolean,
  current: EnterpriseDefault,
): DefaultDecision {
  const before = current.shareWithNewMembers;
  if (current.defaultSeq > seq) return { outcome: 'superseded', before, after: before, next: null };
  return {
    outcome: before === shareWithNewMembers ? 'unchanged' : 'applied',
    before,
    after: shareWithNewMembers,
    next: { shareWithNewMembers, defaultSeq: seq },
  };
}

/**
 * A member whose sharing this disables, having drawn on the master's packages lately (`drewLately`),
 * may fall into arrears: its change says so. Only a change that disables: one already disabled
 * was flagged when it was.
 */
export function flagArrearsRisk(decision: MemberDecision, drewLately: ReadonlySet<string>): MemberDecision {
  if (isRejection(decision) || decision.outcome !== 'applied' || !drewLately.has(decision.memberId)) return decision;
  return { ...decision, arrearsRisk: true };
}
