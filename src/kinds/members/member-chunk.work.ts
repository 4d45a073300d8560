import type { PlannedChunk } from '../../domain/chunk-plan.js';
import type { RowsOf } from '../../db/pipeline.js';
import type { NamedQuery } from '../../db/statements.js';
import { type ChunkWork, chunkWork } from '../../operations/chunk-work.js';
import { enterpriseOf, historyScope, type OperationIdentity, repeatsOf } from '../kind.js';
import { decideMemberChunk, type MemberRule } from './member-chunk.rules.js';
import { lockMembers, type MemberStateRow, readMembers, toMemberStates, writeMemberChanges } from './members.sql.js';

/**
 * A chunk of a kind that changes members: reads them (after `before`, reads that must run first,
 * whose rows `ruleFor` gets to build the rule from) and applies the rule to each item. The
 * members are read without locks and written only if unchanged since; when one changed, the chunk
 * runs again with its members locked (`lock`).
 */
export function memberChunkWork<const Before extends readonly NamedQuery<unknown>[]>(
  operation: OperationIdentity,
  chunk: PlannedChunk<unknown>,
  memberIds: string[],
  before: Before,
  ruleFor: (beforeRows: RowsOf<Before>) => MemberRule,
  lock = false,
): ChunkWork {
  const enterpriseId = enterpriseOf(operation);
  const ctx = { seq: operation.seq, enterpriseId };
  const scope = historyScope(operation);
  const read = (lock ? lockMembers : readMembers)(scope, operation.seq, memberIds);
  return chunkWork({
    reads: [...before, read] as const,
    decide(rows) {
      // The reads are `before`, then the members: a tuple of a length the type cannot index by.
      const { states, seenInOperation } = toMemberStates(rows[before.length] as MemberStateRow[]);
      const rule = ruleFor(rows.slice(0, before.length) as RowsOf<Before>);
      const decision = decideMemberChunk(ctx, memberIds, chunk.offset, states, seenInOperation, rule, repeatsOf(chunk));
      return {
        writes: writeMemberChanges(
          { ...scope, seq: operation.seq, enterpriseId },
          states,
          decision.nextStates,
          decision.changes,
        ),
        outcome: { itemCount: memberIds.length, counts: decision.counts, rejections: decision.rejections },
      };
    },
    fallback: lock ? undefined : () => memberChunkWork(operation, chunk, memberIds, before, ruleFor, true),
  });
}
