import { type Kysely, sql } from 'kysely';
import type { MemberChange, MemberState } from '../domain/members/member-state.js';
import { prepared } from './database.js';
import type { Database, Tx } from './schema.js';

/** Gives every account named by an association a row to lock, so concurrent chunks serialise on it. */
export async function ensureMemberRows(tx: Tx, memberIds: readonly string[]): Promise<void> {
  await sql`
    INSERT INTO members (member_id)
    SELECT id FROM unnest(${[...memberIds].sort()}::text[]) AS t(id)
    ON CONFLICT DO NOTHING`.execute(tx);
}

export interface LockedMembers {
  states: Map<string, MemberState>;
  /** Members that already have a history row from this operation (a repeat in another chunk). */
  seenInOperation: Set<string>;
}

/** Locks the members' rows in a fixed order (no deadlocks between chunks) and reads their state. */
export async function lockMembers(tx: Tx, operationId: string, memberIds: readonly string[]): Promise<LockedMembers> {
  const { rows } = await sql<{
    member_id: string;
    enterprise_id: string | null;
    sharing_enabled: boolean;
    last_seq: number;
    seen: boolean;
  }>`${prepared('lock-members')}
    SELECT m.member_id, m.enterprise_id, m.sharing_enabled, m.last_seq, s.seen IS NOT NULL AS seen
    FROM members m
    -- One unique-index probe per member. As an EXISTS, a fresh operation (not in the statistics
    -- yet) got a hashed subplan reading every history row the operation had written so far, on
    -- every chunk: quadratic in the batch size. LATERAL with LIMIT can be neither hashed nor pulled up.
    LEFT JOIN LATERAL (SELECT true AS seen FROM sharing_history h
                       WHERE h.operation_id = ${operationId} AND h.member_id = m.member_id LIMIT 1) s ON true
    WHERE m.member_id = ANY(${memberIds}::text[])
    ORDER BY m.member_id
    FOR UPDATE OF m`.execute(tx);
  const states = new Map<string, MemberState>();
  const seenInOperation = new Set<string>();
  for (const r of rows) {
    states.set(r.member_id, {
      memberId: r.member_id,
      enterpriseId: r.enterprise_id,
      sharingEnabled: r.sharing_enabled,
      lastSeq: r.last_seq,
    });
    if (r.seen) seenInOperation.add(r.member_id);
  }
  return { states, seenInOperation };
}

/**
 * Writes a chunk's member rows (`states`) and its history rows (`changes`: one per applied,
 * unchanged or superseded item) in one statement, so the chunk pays one round trip for both.
 */
export async function writeMemberChanges(
  tx: Tx,
  operation: { operationId: string; seq: number; enterpriseId: string },
  states: readonly MemberState[],
  changes: readonly MemberChange[],
): Promise<void> {
  if (states.length === 0 && changes.length === 0) return;
  await sql`${prepared('write-members')}
    WITH written AS (
      UPDATE members m SET
        enterprise_id = v.enterprise_id,
        sharing_enabled = v.sharing_enabled,
        last_seq = v.last_seq,
        associated_at = CASE
          WHEN v.enterprise_id IS NULL THEN NULL
          WHEN m.enterprise_id IS DISTINCT FROM v.enterprise_id THEN now()
          ELSE m.associated_at END,
        updated_at = now()
      FROM unnest(${states.map((s) => s.memberId)}::text[], ${states.map((s) => s.enterpriseId)}::text[],
                  ${states.map((s) => s.sharingEnabled)}::bool[], ${states.map((s) => s.lastSeq)}::int8[])
           AS v(member_id, enterprise_id, sharing_enabled, last_seq)
      WHERE m.member_id = v.member_id
    )
    INSERT INTO sharing_history
      (operation_id, operation_seq, enterprise_id, member_id, action, sharing_before, sharing_after, outcome)
    SELECT ${operation.operationId}, ${operation.seq}, ${operation.enterpriseId}, c.member_id, c.action,
           c.sharing_before, c.sharing_after, c.outcome
    FROM unnest(${changes.map((c) => c.memberId)}::text[], ${changes.map((c) => c.action)}::text[],
                ${changes.map((c) => c.sharingBefore)}::bool[], ${changes.map((c) => c.sharingAfter)}::bool[],
                ${changes.map((c) => c.outcome)}::text[])
         AS c(member_id, action, sharing_before, sharing_after, outcome)`.execute(tx);
}

export async function findMember(db: Kysely<Database>, enterpriseId: string, memberId: string) {
  return db
    .selectFrom('members')
    .select(['member_id', 'enterprise_id', 'sharing_enabled', 'associated_at'])
    .where('member_id', '=', memberId)
    .where('enterprise_id', '=', enterpriseId)
    .executeTakeFirst();
}

/** Newest first; the cursor is the last row id of the previous page. */
export async function listSharingHistory(
  db: Kysely<Database>,
  enterpriseId: string,
  memberId: string,
  beforeId: number | null,
  limit: number,
) {
  let query = db
    .selectFrom('sharing_history')
    .selectAll()
    .where('member_id', '=', memberId)
    .where('enterprise_id', '=', enterpriseId);
  if (beforeId !== null) query = query.where('id', '<', beforeId);
  return query.orderBy('id', 'desc').limit(limit).execute();
}
