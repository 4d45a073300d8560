import { type Kysely, sql } from 'kysely';
import type { EnterpriseDefault } from '../domain/sharing/sharing.rules.js';
import type { Database, Tx } from './schema.js';

/**
 * Reads an enterprise's switch, creating the enterprise on first sight. With `lock` the row is
 * held until commit (switch changes); without, concurrent association chunks do not queue on it.
 */
export async function loadEnterpriseDefault(tx: Tx, enterpriseId: string, lock: boolean): Promise<EnterpriseDefault> {
  await tx
    .insertInto('enterprises')
    .values({ enterprise_id: enterpriseId })
    .onConflict((oc) => oc.column('enterprise_id').doNothing())
    .execute();
  let query = tx
    .selectFrom('enterprises')
    .select(['share_with_new_members', 'default_seq'])
    .where('enterprise_id', '=', enterpriseId);
  if (lock) query = query.forUpdate();
  const row = await query.executeTakeFirstOrThrow();
  return { shareWithNewMembers: row.share_with_new_members, defaultSeq: row.default_seq };
}

export async function storeEnterpriseDefault(tx: Tx, enterpriseId: string, next: EnterpriseDefault): Promise<void> {
  await tx
    .updateTable('enterprises')
    .set({ share_with_new_members: next.shareWithNewMembers, default_seq: next.defaultSeq, updated_at: sql`now()` })
    .where('enterprise_id', '=', enterpriseId)
    .execute();
}

export async function enterpriseSummary(db: Kysely<Database>, enterpriseId: string) {
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
  };
}
