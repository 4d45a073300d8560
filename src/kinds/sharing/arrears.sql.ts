import { sql } from 'kysely';
import { namedStatement } from '../../db/statements.js';

/**
 * Which of the named members drew on the enterprise's master packages for usage within the last
 * `days` days (by when it was used, against the database clock): disabling their sharing may
 * leave them in arrears. One probe of a partial index per member.
 */
export const recentMasterDraws = namedStatement(
  'recent_master_draws',
  (enterpriseId: string, memberIds: readonly string[], days: number) => sql<{ member_id: string }>`
    SELECT i.member_id
    FROM unnest(${memberIds}::text[]) AS i(member_id)
    WHERE EXISTS (SELECT FROM usage_lines l
                  WHERE l.enterprise_id = ${enterpriseId}::text AND l.member_id = i.member_id
                    AND l.source = 'master_package'
                    AND l.used_at >= now() - make_interval(days => ${days}::int4))`,
);
