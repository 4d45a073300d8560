import { z } from 'zod';
import { operationBase } from '../../contract/ids.js';
import { writes } from '../../domain/ordering/claims.js';
import { countOutcomes } from '../../domain/outcomes.js';
import { chunkWork } from '../../operations/chunk-work.js';
import { defineKind, enterpriseOf, parseParams } from '../kind.js';
import {
  ensureEnterprise,
  lockEnterpriseDefault,
  storeEnterpriseDefault,
  toEnterpriseDefault,
} from './enterprise-switch.sql.js';
import { decideSetDefault } from './sharing.rules.js';

const params = z.object({ shareWithNewMembers: z.boolean() });

/** The enterprise's share-with-new-members switch: one item, no member touched. */
export const sharingSetDefault = defineKind({
  kind: 'sharing.set-default',
  schema: z.strictObject({
    ...operationBase,
    kind: z.literal('sharing.set-default'),
    shareWithNewMembers: z.boolean(),
  }),
  items: null,
  itemKey: String,
  claims: { operation: (h) => [writes(`${h.enterpriseId}/switch`)], item: () => [], everyItem: () => [] },
  ordered: false,
  apply(operation) {
    const enterpriseId = enterpriseOf(operation);
    const { shareWithNewMembers } = parseParams(params, operation);
    return chunkWork({
      reads: [ensureEnterprise(enterpriseId), lockEnterpriseDefault(enterpriseId)] as const,
      decide([, locked]) {
        const current = toEnterpriseDefault(locked, enterpriseId);
        const decision = decideSetDefault(operation.seq, shareWithNewMembers, current);
        return {
          writes: decision.next ? [storeEnterpriseDefault(enterpriseId, decision.next)] : [],
          outcome: { itemCount: 1, counts: countOutcomes([decision.outcome], 0), rejections: [] },
        };
      },
    });
  },
  file: null,
});
