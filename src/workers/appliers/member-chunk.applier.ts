import { z } from 'zod';
import { decideMemberChunk, type MemberRule } from '../../domain/members/member-chunk.rules.js';
import type { ChunkOutcome } from '../../domain/operations/item-outcome.js';
import { decideAssociate, decideDissociate } from '../../domain/members/membership.rules.js';
import { decideSharingSet } from '../../domain/sharing/sharing.rules.js';
import { loadEnterpriseDefault } from '../../db/enterprises.repository.js';
import { ensureMemberRows, lockMembers, writeMemberChanges } from '../../db/members.repository.js';
import type { Tx } from '../../db/schema.js';
import { memberIdSchema } from '../../producers/contract.js';
import { type ChunkApplier, enterpriseOf, type OperationIdentity, parseItems, parseParams } from './chunk-applier.js';

async function applyMemberRule(
  tx: Tx,
  operation: OperationIdentity,
  memberIds: string[],
  offset: number,
  rule: MemberRule,
): Promise<ChunkOutcome> {
  const enterpriseId = enterpriseOf(operation);
  const ctx = { seq: operation.seq, enterpriseId };
  const { states, seenInOperation } = await lockMembers(tx, operation.operation_id, memberIds);
  const decision = decideMemberChunk(ctx, memberIds, offset, states, seenInOperation, rule);
  await writeMemberChanges(
    tx,
    { operationId: operation.operation_id, seq: operation.seq, enterpriseId },
    decision.nextStates,
    decision.changes,
  );
  return { itemCount: memberIds.length, counts: decision.counts, rejections: decision.rejections };
}

const sharingParams = z.object({ enabled: z.boolean() });

export const applySharingSet: ChunkApplier = (tx, operation, chunk) => {
  const { enabled } = parseParams(sharingParams, operation);
  return applyMemberRule(tx, operation, parseItems(memberIdSchema, chunk), chunk.offset, (ctx, item, state) =>
    decideSharingSet(ctx, enabled, item, state),
  );
};

export const applyAssociate: ChunkApplier = async (tx, operation, chunk) => {
  const memberIds = parseItems(memberIdSchema, chunk);
  const { shareWithNewMembers } = await loadEnterpriseDefault(tx, enterpriseOf(operation), false);
  await ensureMemberRows(tx, memberIds);
  return applyMemberRule(tx, operation, memberIds, chunk.offset, (ctx, item, state) =>
    decideAssociate(ctx, shareWithNewMembers, item, state),
  );
};

export const applyDissociate: ChunkApplier = (tx, operation, chunk) =>
  applyMemberRule(tx, operation, parseItems(memberIdSchema, chunk), chunk.offset, decideDissociate);
