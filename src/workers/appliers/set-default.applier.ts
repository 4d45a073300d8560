import { z } from 'zod';
import { countOutcomes } from '../../domain/operations/item-outcome.js';
import { decideSetDefault } from '../../domain/sharing/sharing.rules.js';
import {
  ensureEnterprise,
  readEnterpriseDefault,
  storeEnterpriseDefault,
  toEnterpriseDefault,
} from '../../db/enterprises.repository.js';
import { type ChunkApplier, enterpriseOf, parseParams } from './chunk-applier.js';

const params = z.object({ shareWithNewMembers: z.boolean() });

export const applySetDefault: ChunkApplier = (operation) => {
  const enterpriseId = enterpriseOf(operation);
  const { shareWithNewMembers } = parseParams(params, operation);
  const locked = readEnterpriseDefault(enterpriseId, true);
  return {
    reads: [ensureEnterprise.call(enterpriseId), locked],
    decide(rows) {
      const current = toEnterpriseDefault(rows(locked), enterpriseId);
      const decision = decideSetDefault(operation.seq, shareWithNewMembers, current);
      return {
        writes: decision.next ? [storeEnterpriseDefault(enterpriseId, decision.next)] : [],
        outcome: { itemCount: 1, counts: countOutcomes([decision.outcome], 0), rejections: [] },
      };
    },
  };
};
