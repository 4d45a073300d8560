import { z } from 'zod';
import { operationBase } from '../../contract/ids.js';
import { defineKind, parseItems } from '../kind.js';
import { memberChunkWork } from './member-chunk.work.js';
import { memberIdFile, memberIds } from './member-items.js';
import { membershipClaims } from './membership.claims.js';
import { decideDissociate } from './membership.rules.js';

/** Dissociates members from the enterprise; their sharing goes off with them. */
export const membersDissociate = defineKind({
  kind: 'members.dissociate',
  schema: z.strictObject({ ...operationBase, kind: z.literal('members.dissociate'), memberIds }),
  items: { field: 'memberIds', schema: memberIds.element },
  itemKey: String,
  claims: membershipClaims,
  ordered: false,
  apply: (operation, chunk) =>
    memberChunkWork(operation, chunk, parseItems(memberIds.element, chunk), [], () => decideDissociate),
  file: memberIdFile,
});
