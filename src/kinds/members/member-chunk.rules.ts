import { type OutcomeCounts, type Rejection, countOutcomes, separateDuplicates } from '../../domain/outcomes.js';
import {
  isRejection,
  type MemberChange,
  type MemberDecision,
  type MemberState,
  type OperationContext,
} from './member-state.js';
import type { ItemRef } from '../../domain/outcomes.js';

export type MemberRule = (ctx: OperationContext, item: ItemRef, state: MemberState | undefined) => MemberDecision;

export interface MemberChunkDecision {
  changes: MemberChange[];
  rejections: Rejection[];
  /** Rows to write: applied and unchanged items move the member's sequence forward. */
  nextStates: MemberState[];
  counts: OutcomeCounts;
}

/** Applies one member rule to every item of a chunk, given the members' locked state. */
export function decideMemberChunk(
  ctx: OperationContext,
  memberIds: readonly string[],
  offset: number,
  states: ReadonlyMap<string, MemberState>,
  seenInOperation: ReadonlySet<string>,
  rule: MemberRule,
  repeats?: ReadonlySet<number>,
): MemberChunkDecision {
  const { unique, duplicates } = separateDuplicates(memberIds, offset, seenInOperation, repeats);
  const changes: MemberChange[] = [];
  const rejections: Rejection[] = [...duplicates];
  for (const item of unique) {
    const decision = rule(ctx, item, states.get(item.memberId));
    if (isRejection(decision)) rejections.push(decision);
    else changes.push(decision);
  }
  const nextStates = changes.flatMap((c) => (c.next ? [c.next] : []));
  return {
    changes,
    rejections,
    nextStates,
    counts: countOutcomes(
      changes.map((c) => c.outcome),
      rejections.length,
    ),
  };
}
