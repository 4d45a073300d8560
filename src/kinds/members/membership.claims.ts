import { writes } from '../../domain/ordering/claims.js';
import type { KindClaims } from '../../domain/ordering/operation-claims.js';

/**
 * Association and dissociation change which enterprise an account belongs to, `member/<m>` (an
 * account elsewhere is refused, a freed one can join another), and the account as a member of E,
 * `<E>/member/<m>`, which every other operation of E on the member reads or writes.
 */
export const membershipClaims: KindClaims<string> = {
  operation: () => [],
  item: (h, memberId) => [writes(`member/${memberId}`), writes(`${h.enterpriseId}/member/${memberId}`)],
  everyItem: (h) => [writes('member/*'), writes(`${h.enterpriseId}/member/*`)],
};
