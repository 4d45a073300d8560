import { z } from 'zod';
import { countOutcomes } from '../../domain/operations/item-outcome.js';
import { decideSetDefault } from '../../domain/sharing/sharing.rules.js';
import { loadEnterpriseDefault, storeEnterpriseDefault } from '../../db/enterprises.repository.js';
import type { ChunkApplier } from './chunk-applier.js';

const params = z.object({ shareWithNewMembers: z.boolean() });

export const applySetDefault: ChunkApplier = async (tx, operation) => {
  const enterpriseId = operation.enterprise_id;
  if (enterpriseId === null) throw new Error(`operation ${operation.operation_id} has no enterprise`);
  const { shareWithNewMembers } = params.parse(operation.params);
  const current = await loadEnterpriseDefault(tx, enterpriseId, true);
  const decision = decideSetDefault(operation.seq, shareWithNewMembers, current);
  if (decision.next) await storeEnterpriseDefault(tx, enterpriseId, decision.next);
  return { itemCount: 1, counts: countOutcomes([decision.outcome], 0) };
};
