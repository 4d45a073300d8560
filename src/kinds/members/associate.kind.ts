import { z } from 'zod';
import { operationBase } from '../../contract/ids.js';
import { reads } from '../../domain/ordering/claims.js';
import { defineKind, enterpriseOf, parseItems } from '../kind.js';
import { ensureEnterprise, readEnterpriseDefault, toEnterpriseDefault } from '../sharing/enterprise-switch.sql.js';
import { memberChunkWork } from './member-chunk.work.js';
import { memberIdFile, memberIds } from './member-items.js';
import { membershipClaims } from './membership.claims.js';
import { decideAssociate } from './membership.rules.js';
import { ensureMemberRows } from './members.sql.js';

/** Associates accounts with the enterprise; they start sharing as its switch says at that moment. */
export const membersAssociate = defineKind({
  kind: 'members.associate',
  schema: z.strictObject({ ...operationBase, kind: z.literal('members.associate'), memberIds }),
  items: { field: 'memberIds', schema: memberIds.element },
  itemKey: String,
  // The switch new members start with is read when each chunk applies.
  claims: { ...membershipClaims, operation: (h) => [reads(`${h.enterpriseId}/switch`)] },
  ordered: false,
  apply(operation, chunk) {
    const ids = parseItems(memberIds.element, chunk);
    const enterpriseId = enterpriseOf(operation);
    return memberChunkWork(
      operation,
      chunk,
      ids,
      [ensureEnterprise(enterpriseId), readEnterpriseDefault(enterpriseId), ensureMemberRows(ids)],
      ([, defaults]) => {
        const { shareWithNewMembers } = toEnterpriseDefault(defaults, enterpriseId);
        return (ctx, item, state) => decideAssociate(ctx, shareWithNewMembers, item, state);
      },
    );
  },
  file: memberIdFile,
});
