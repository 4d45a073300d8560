import type { Kysely } from 'kysely';
import { formatCents } from '../domain/money.js';
import type { Database } from '../db/schema.js';
import { enterprisePaygCents } from './usage.read.js';

export interface EnterpriseView {
  enterpriseId: string;
  shareWithNewMembers: boolean;
  memberCount: number;
  sharingEnabledCount: number;
  /** Pay-as-you-go charged for all its members' usage: under unified accounting, the master's bill. */
  paygTotal: string;
}

export async function findEnterprise(db: Kysely<Database>, enterpriseId: string): Promise<EnterpriseView | undefined> {
  const enterprise = await db
    .selectFrom('enterprises')
    .select(['enterprise_id', 'share_with_new_members'])
    .where('enterprise_id', '=', enterpriseId)
    .executeTakeFirst();
  if (!enterprise) return undefined;
  const counts = await db
    .selectFrom('members')
    .select((eb) => [
      eb.fn.countAll<number>().as('member_count'),
      eb.fn.count<number>('member_id').filterWhere('sharing_enabled', '=', true).as('sharing_enabled_count'),
    ])
    .where('enterprise_id', '=', enterpriseId)
    .executeTakeFirstOrThrow();
  return {
    enterpriseId: enterprise.enterprise_id,
    shareWithNewMembers: enterprise.share_with_new_members,
    memberCount: Number(counts.member_count),
    sharingEnabledCount: Number(counts.sharing_enabled_count),
    paygTotal: formatCents(await enterprisePaygCents(db, enterpriseId)),
  };
}
