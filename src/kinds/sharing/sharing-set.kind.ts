import { z } from 'zod';
import { operationBase } from '../../contract/ids.js';
import { reads, writes } from '../../domain/ordering/claims.js';
import { defineKind, enterpriseOf, parseItems, parseParams } from '../kind.js';
import type { MemberRule } from '../members/member-chunk.rules.js';
import { memberChunkWork } from '../members/member-chunk.work.js';
import { memberIdFile, memberIds } from '../members/member-items.js';
import { recentMasterDraws } from './arrears.sql.js';
import { decideSharingSet, flagArrearsRisk } from './sharing.rules.js';

const params = z.object({ enabled: z.boolean() });

/**
 * Enables or disables sharing for a batch of members; the state a member has is `unchanged`. A
 * member disabled after drawing on the master's packages lately is flagged `arrearsRisk`: it reads
 * the enterprise's settlements, so it waits for earlier ones (`<E>/usage/*`).
 */
export const sharingSet = defineKind({
  kind: 'sharing.set',
  schema: z.strictObject({ ...operationBase, kind: z.literal('sharing.set'), enabled: z.boolean(), memberIds }),
  items: { field: 'memberIds', schema: memberIds.element },
  itemKey: String,
  claims: {
    operation: (h) => (h.params.enabled === false ? [reads(`${h.enterpriseId}/usage/*`)] : []),
    item: (h, memberId) => [writes(`${h.enterpriseId}/member/${memberId}`)],
    everyItem: (h) => [writes(`${h.enterpriseId}/member/*`)],
  },
  ordered: false,
  apply(operation, chunk, settings) {
    const { enabled } = parseParams(params, operation);
    const items = parseItems(memberIds.element, chunk);
    if (enabled) {
      const rule: MemberRule = (ctx, item, state) => decideSharingSet(ctx, true, item, state);
      return memberChunkWork(operation, chunk, items, [], () => rule);
    }
    const draws = recentMasterDraws(enterpriseOf(operation), items, settings.arrearsLookbackDays);
    return memberChunkWork(operation, chunk, items, [draws] as const, ([drew]) => {
      const atRisk = new Set(drew.map((r) => r.member_id));
      return (ctx, item, state) => flagArrearsRisk(decideSharingSet(ctx, false, item, state), atRisk);
    });
  },
  file: memberIdFile,
});
