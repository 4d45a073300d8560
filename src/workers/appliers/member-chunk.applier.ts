import type { Transaction } from 'kysely';
import { z } from 'zod';
import { decideMemberChunk, type MemberRule } from '../../domain/members/member-chunk.rules.js';
import { decideAssociate, decideDissociate } from '../../domain/members/membership.rules.js';
import { decideSharingSet } from '../../domain/sharing/sharing.rules.js';
import { loadEnterpriseDefault } from '../../db/enterprises.repository.js';
import { ensureMemberRows, insertSharingHistory, lockMembers, writeMemberStates } from '../../db/members.repository.js';
import { insertRejections } from '../../db/operations.repository.js';
import type { Database, OperationRow } from '../../db/schema.js';
import type { ChunkJob } from '../../producers/contract.js';
import type { ChunkApplier } from './chunk-applier.js';

async function applyMemberRule(
  tx: Transaction<Database>,
  operation: OperationRow,
  chunk: ChunkJob,
  rule: MemberRule,
) {
  const enterpriseId = operation.enterprise_id;
  if (enterpriseId === null) throw new Error(`operation ${operation.operation_id} has no enterprise`);
  const ctx = { seq: operation.seq, enterpriseId };
  const { states, seenInOperation } = await lockMembers(tx, operation.operation_id, chunk.items);
  const decision = decideMemberChunk(ctx, chunk.items, chunk.offset, states, seenInOperation, rule);
  await writeMemberStates(tx, decision.nextStates);
  await insertSharingHistory(tx, { operationId: operation.operation_id, seq: operation.seq, enterpriseId }, decision.changes);
  await insertRejections(tx, operation.operation_id, decision.rejections);
  return { itemCount: chunk.items.length, counts: decision.counts };
}

const sharingParams = z.object({ enabled: z.boolean() });

export const applySharingSet: ChunkApplier = (tx, operation, chunk) => {
  const { enabled } = sharingParams.parse(operation.params);
  return applyMemberRule(tx, operation, chunk, (ctx, item, state) => decideSharingSet(ctx, enabled, item, state));
};

export const applyAssociate: ChunkApplier = async (tx, operation, chunk) => {
  if (operation.enterprise_id === null) throw new Error(`operation ${operation.operation_id} has no enterprise`);
  const { shareWithNewMembers } = await loadEnterpriseDefault(tx, operation.enterprise_id, false);
  await ensureMemberRows(tx, chunk.items);
  return applyMemberRule(tx, operation, chunk, (ctx, item, state) => decideAssociate(ctx, shareWithNewMembers, item, state));
};

export const applyDissociate: ChunkApplier = (tx, operation, chunk) =>
  applyMemberRule(tx, operation, chunk, decideDissociate);
