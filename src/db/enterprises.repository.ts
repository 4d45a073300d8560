import type { Kysely } from 'kysely';
import type { EnterpriseDefault } from '../domain/sharing/sharing.rules.js';
import { definePrepared, type StatementCall } from './prepared-statements.js';
import type { Database } from './schema.js';

/** Creates the enterprise on first sight, so that its switch can be read (and locked). */
export const ensureEnterprise = definePrepared<never>(
  'ensure_enterprise',
  ['text'],
  `INSERT INTO enterprises (enterprise_id) VALUES ($1) ON CONFLICT (enterprise_id) DO NOTHING`,
);

export interface EnterpriseDefaultRow {
  share_with_new_members: boolean;
  default_seq: number;
}

const readDefault = definePrepared<EnterpriseDefaultRow>(
  'read_enterprise_default',
  ['text'],
  `SELECT share_with_new_members, default_seq FROM enterprises WHERE enterprise_id = $1`,
);
const lockDefault = definePrepared<EnterpriseDefaultRow>(
  'lock_enterprise_default',
  ['text'],
  `SELECT share_with_new_members, default_seq FROM enterprises WHERE enterprise_id = $1 FOR UPDATE`,
);

/**
 * Reads an enterprise's switch (after `ensureEnterprise`). With `lock` the row is held until
 * commit (switch changes); without, concurrent association chunks do not queue on it.
 */
export function readEnterpriseDefault(enterpriseId: string, lock: boolean): StatementCall<EnterpriseDefaultRow> {
  return (lock ? lockDefault : readDefault).call(enterpriseId);
}

export function toEnterpriseDefault(rows: readonly EnterpriseDefaultRow[], enterpriseId: string): EnterpriseDefault {
  const row = rows[0];
  if (!row) throw new Error(`enterprise ${enterpriseId} was not created before its switch was read`);
  return { shareWithNewMembers: row.share_with_new_members, defaultSeq: row.default_seq };
}

const storeDefault = definePrepared<never>(
  'store_enterprise_default',
  ['text', 'bool', 'int8'],
  `UPDATE enterprises SET share_with_new_members = $2, default_seq = $3, updated_at = now() WHERE enterprise_id = $1`,
);

export function storeEnterpriseDefault(enterpriseId: string, next: EnterpriseDefault): StatementCall<never> {
  return storeDefault.call(enterpriseId, next.shareWithNewMembers, next.defaultSeq);
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
