import type { Kysely } from 'kysely';
import { formatCents } from '../domain/money.js';
import type { Database } from '../db/schema.js';
import { iso, PAGE_SIZE, type Page, pageOf } from './page.js';
import { memberPaygCents } from './usage.read.js';

export interface MemberView {
  enterpriseId: string;
  memberId: string;
  sharingEnabled: boolean;
  associatedAt: string | null;
  /** Pay-as-you-go charged for the member's usage in the enterprise (billed to the master). */
  paygTotal: string;
}

export interface SharingHistoryView {
  operationId: string;
  action: string;
  sharingBefore: boolean | null;
  sharingAfter: boolean | null;
  outcome: string;
  at: string;
  /** The API key that published the operation (null: published another way). */
  publishedBy: string | null;
}

/** The member's switch if it is a member of the enterprise; undefined when it is not one. */
export async function findMembership(
  db: Kysely<Database>,
  enterpriseId: string,
  memberId: string,
): Promise<{ enterpriseId: string; memberId: string; sharingEnabled: boolean; associatedAt: Date | null } | undefined> {
  const row = await db
    .selectFrom('members')
    .select(['member_id', 'sharing_enabled', 'associated_at'])
    .where('member_id', '=', memberId)
    .where('enterprise_id', '=', enterpriseId)
    .executeTakeFirst();
  return (
    row && {
      enterpriseId,
      memberId: row.member_id,
      sharingEnabled: row.sharing_enabled,
      associatedAt: row.associated_at,
    }
  );
}

/** The member as a member of the enterprise, with its pay-as-you-go total; undefined when it is not one. */
export async function findMember(
  db: Kysely<Database>,
  enterpriseId: string,
  memberId: string,
): Promise<MemberView | undefined> {
  const member = await findMembership(db, enterpriseId, memberId);
  if (!member) return undefined;
  return {
    enterpriseId,
    memberId: member.memberId,
    sharingEnabled: member.sharingEnabled,
    associatedAt: member.associatedAt ? iso(member.associatedAt) : null,
    paygTotal: formatCents(await memberPaygCents(db, enterpriseId, memberId)),
  };
}

/** Newest first; the cursor is the last row id of the previous page. */
export async function listSharingHistory(
  db: Kysely<Database>,
  enterpriseId: string,
  memberId: string,
  beforeId: number | null,
): Promise<Page<SharingHistoryView>> {
  let query = db
    .selectFrom('sharing_history as h')
    .leftJoin('operation_audit as a', 'a.operation_id', 'h.operation_id')
    .selectAll('h')
    .select('a.published_by')
    .where('h.member_id', '=', memberId)
    .where('h.enterprise_id', '=', enterpriseId);
  if (beforeId !== null) query = query.where('h.id', '<', beforeId);
  const rows = await query.orderBy('h.id', 'desc').limit(PAGE_SIZE).execute();
  return pageOf(
    rows,
    (r) => r.id,
    (r) => ({
      operationId: r.operation_id,
      action: r.action,
      sharingBefore: r.sharing_before,
      sharingAfter: r.sharing_after,
      outcome: r.outcome,
      at: r.created_at.toISOString(),
      publishedBy: r.published_by,
    }),
  );
}
