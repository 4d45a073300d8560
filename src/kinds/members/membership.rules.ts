import type { ItemRef } from '../../domain/outcomes.js';
import {
  isSupersededFor,
  type MemberDecision,
  type MemberState,
  type OperationContext,
  supersededChange,
} from './member-state.js';

/**
 * Associating takes the enterprise's *current* share-with-new-members switch; an account
 * associated with another enterprise is refused, one already here is left unchanged.
 */
export function decideAssociate(
  ctx: OperationContext,
  shareWithNewMembers: boolean,
  item: ItemRef,
  state: MemberState | undefined,
): MemberDecision {
  if (state && state.enterpriseId !== null && state.enterpriseId !== ctx.enterpriseId) {
    return { ...item, reason: 'associated_elsewhere' };
  }
  if (state && isSupersededFor(state, ctx)) return supersededChange(item, 'associate', state);
  if (state && state.enterpriseId === ctx.enterpriseId) {
    return {
      ...item,
      action: 'associate',
      outcome: 'unchanged',
      sharingBefore: state.sharingEnabled,
      sharingAfter: state.sharingEnabled,
      next: { ...state, lastSeq: ctx.seq },
    };
  }
  return {
    ...item,
    action: 'associate',
    outcome: 'applied',
    sharingBefore: null,
    sharingAfter: shareWithNewMembers,
    next: {
      memberId: item.memberId,
      enterpriseId: ctx.enterpriseId,
      sharingEnabled: shareWithNewMembers,
      lastSeq: ctx.seq,
    },
  };
}

export function decideDissociate(ctx: OperationContext, item: ItemRef, state: MemberState | undefined): MemberDecision {
  if (!state || state.enterpriseId !== ctx.enterpriseId) return { ...item, reason: 'not_a_member' };
  if (isSupersededFor(state, ctx)) return supersededChange(item, 'dissociate', state);
  return {
    ...item,
    action: 'dissociate',
    outcome: 'applied',
    sharingBefore: state.sharingEnabled,
    sharingAfter: null,
    next: { memberId: item.memberId, enterpriseId: null, sharingEnabled: false, lastSeq: ctx.seq },
  };
}
