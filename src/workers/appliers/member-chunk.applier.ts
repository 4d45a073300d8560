import { z } from 'zod';
import { decideMemberChunk, type MemberRule } from '../../domain/members/member-chunk.rules.js';
import { decideAssociate, decideDissociate } from '../../domain/members/membership.rules.js';
import { decideSharingSet } from '../../domain/sharing/sharing.rules.js';
import type { ChunkWork } from '../../db/chunk-transaction.js';
import { ensureEnterprise, readEnterpriseDefault, toEnterpriseDefault } from '../../db/enterprises.repository.js';
import {
  ensureMemberRows,
  lockMembers,
  readMembers,
  toMemberStates,
  writeMemberChanges,
} from '../../db/members.repository.js';
import type { StatementCall } from '../../db/prepared-statements.js';
import { memberIdSchema } from '../../producers/contract.js';
import type { PlannedChunk } from '../../domain/operations/chunk-plan.js';
import {
  type ChunkApplier,
  enterpriseOf,
  type OperationIdentity,
  parseItems,
  parseParams,
  repeatsOf,
} from './chunk-applier.js';

/**
 * Reads the chunk's members (after `before`, reads that must run first) and applies `rule` to
 * each item; `ruleFor` gets the rows of every read, to build the rule from what they found. The
 * members are read without locks, and written only if unchanged since; when one changed, the
 * chunk runs again with its members locked (`lock`).
 */
function memberChunkWork(
  operation: OperationIdentity,
  chunk: PlannedChunk<unknown>,
  memberIds: string[],
  before: readonly StatementCall<unknown>[],
  ruleFor: (rows: Parameters<ChunkWork['decide']>[0]) => MemberRule,
  lock = false,
): ChunkWork {
  const enterpriseId = enterpriseOf(operation);
  const ctx = { seq: operation.seq, enterpriseId };
  const { offset } = chunk;
  const repeats = repeatsOf(chunk);
  const read = (lock ? lockMembers : readMembers).call(operation.operation_id, operation.seq, memberIds);
  return {
    reads: [...before, read],
    decide(rows) {
      const { states, seenInOperation } = toMemberStates(rows(read));
      const decision = decideMemberChunk(ctx, memberIds, offset, states, seenInOperation, ruleFor(rows), repeats);
      return {
        writes: writeMemberChanges(
          { operationId: operation.operation_id, seq: operation.seq, enterpriseId },
          states,
          decision.nextStates,
          decision.changes,
        ),
        outcome: { itemCount: memberIds.length, counts: decision.counts, rejections: decision.rejections },
      };
    },
    fallback: lock ? undefined : () => memberChunkWork(operation, chunk, memberIds, before, ruleFor, true),
  };
}

const sharingParams = z.object({ enabled: z.boolean() });

export const applySharingSet: ChunkApplier = (operation, chunk) => {
  const { enabled } = parseParams(sharingParams, operation);
  const rule: MemberRule = (ctx, item, state) => decideSharingSet(ctx, enabled, item, state);
  return memberChunkWork(operation, chunk, parseItems(memberIdSchema, chunk), [], () => rule);
};

export const applyAssociate: ChunkApplier = (operation, chunk) => {
  const memberIds = parseItems(memberIdSchema, chunk);
  const enterpriseId = enterpriseOf(operation);
  const enterpriseDefault = readEnterpriseDefault(enterpriseId, false);
  return memberChunkWork(
    operation,
    chunk,
    memberIds,
    [ensureEnterprise.call(enterpriseId), enterpriseDefault, ensureMemberRows(memberIds)],
    (rows) => {
      const { shareWithNewMembers } = toEnterpriseDefault(rows(enterpriseDefault), enterpriseId);
      return (ctx, item, state) => decideAssociate(ctx, shareWithNewMembers, item, state);
    },
  );
};

export const applyDissociate: ChunkApplier = (operation, chunk) =>
  memberChunkWork(operation, chunk, parseItems(memberIdSchema, chunk), [], () => decideDissociate);
