import { z } from 'zod';
import { operationBase } from '../../contract/ids.js';
import { writes } from '../../domain/ordering/claims.js';
import { defineKind, parseItems, parseParams } from '../kind.js';
import type { MemberRule } from '../members/member-chunk.rules.js';
import { memberChunkWork } from '../members/member-chunk.work.js';
import { memberIdFile, memberIds } from '../members/member-items.js';
import { decideSharingSet } from './sharing.rules.js';

const params = z.object({ enabled: z.boolean() });

/** Enables or disables sharing for a batch of members; the state a member has is `unchanged`. */
export const sharingSet = defineKind({
  kind: 'sharing.set',
  schema: z.strictObject({ ...operationBase, kind: z.literal('sharing.set'), enabled: z.boolean(), memberIds }),
  items: { field: 'memberIds', schema: memberIds.element },
  itemKey: String,
  claims: {
    operation: () => [],
    item: (h, memberId) => [writes(`${h.enterpriseId}/member/${memberId}`)],
    everyItem: (h) => [writes(`${h.enterpriseId}/member/*`)],
  },
  ordered: false,
  apply(operation, chunk) {
    const { enabled } = parseParams(params, operation);
    const rule: MemberRule = (ctx, item, state) => decideSharingSet(ctx, enabled, item, state);
    return memberChunkWork(operation, chunk, parseItems(memberIds.element, chunk), [], () => rule);
  },
  file: memberIdFile,
});
