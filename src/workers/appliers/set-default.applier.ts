import { z } from 'zod';
import { countOutcomes } from '../../domain/operations/item-outcome.js';
import { decideSetDefault } from '../../domain/sharing/sharing.rules.js';
import { loadEnterpriseDefault, storeEnterpriseDefault } from '../../db/enterprises.repository.js';
import { type ChunkApplier, enterpriseOf, parseParams } from './chunk-applier.js';

const params = z.object({ shareWithNewMembers: z.boolean() });

export const applySetDefault: ChunkApplier = async (tx, operation) => {
  const enterpriseId = enterpriseOf(operation);
  const { shareWithNewMembers } = parseParams(params, operation);
  const current = await loadEnterpriseDefault(tx, enterpriseId, true);
  const decision = decideSetDefault(operation.seq, shareWithNewMembers, current);
  if (decision.next) await storeEnterpriseDefault(tx, enterpriseId, decision.next);
  return { itemCount: 1, counts: countOutcomes([decision.outcome], 0), rejections: [] };
};
