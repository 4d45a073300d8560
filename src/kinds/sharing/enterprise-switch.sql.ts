import { type Selectable, sql } from 'kysely';
import type { EnterprisesTable } from '../../db/schema.js';
import { namedStatement } from '../../db/statements.js';
import type { EnterpriseDefault } from './sharing.rules.js';

/** Creates the enterprise on first sight, so that its switch can be read (and locked). */
export const ensureEnterprise = namedStatement(
  'ensure_enterprise',
  (enterpriseId: string) => sql<never>`
    INSERT INTO enterprises (enterprise_id) VALUES (${enterpriseId}::text) ON CONFLICT (enterprise_id) DO NOTHING`,
);

export type EnterpriseDefaultRow = Pick<Selectable<EnterprisesTable>, 'share_with_new_members'> & {
  default_seq: number;
};

const defaultOf = (enterpriseId: string, lock: boolean) => sql<EnterpriseDefaultRow>`
  SELECT share_with_new_members, default_seq FROM enterprises WHERE enterprise_id = ${enterpriseId}::text
  ${lock ? sql`FOR UPDATE` : sql``}`;

/** An enterprise's switch (after `ensureEnterprise`), read without holding it: associations do not queue on it. */
export const readEnterpriseDefault = namedStatement('read_enterprise_default', (enterpriseId: string) =>
  defaultOf(enterpriseId, false),
);

/** The same, held until commit: a change of the switch. */
export const lockEnterpriseDefault = namedStatement('lock_enterprise_default', (enterpriseId: string) =>
  defaultOf(enterpriseId, true),
);

export function toEnterpriseDefault(rows: readonly EnterpriseDefaultRow[], enterpriseId: string): EnterpriseDefault {
  const row = rows[0];
  if (!row) throw new Error(`enterprise ${enterpriseId} was not created before its switch was read`);
  return { shareWithNewMembers: row.share_with_new_members, defaultSeq: row.default_seq };
}

export const storeEnterpriseDefault = namedStatement(
  'store_enterprise_default',
  (enterpriseId: string, next: EnterpriseDefault) => sql<never>`
    UPDATE enterprises SET share_with_new_members = ${next.shareWithNewMembers}::bool,
                           default_seq = ${next.defaultSeq}::int8, updated_at = now()
    WHERE enterprise_id = ${enterpriseId}::text`,
);
