import { type Selectable, sql } from 'kysely';
import { recordsTable } from '../../db/records.js';
import type { MembersTable } from '../../db/schema.js';
import { namedStatement, type NamedQuery } from '../../db/statements.js';
import type { HistoryScope } from '../kind.js';
import type { MemberChange, MemberState } from './member-state.js';

/** Gives every account named by an association a row, so its chunk writes it like any other member. */
export const ensureMemberRows = namedStatement(
  'ensure_member_rows',
  (memberIds: readonly string[]) => sql<never>`
    INSERT INTO members (member_id) SELECT id FROM unnest(${memberIds}::text[]) AS t(id) ORDER BY id
    ON CONFLICT DO NOTHING`,
);

export type MemberStateRow = Pick<Selectable<MembersTable>, 'member_id' | 'enterprise_id' | 'sharing_enabled'> & {
  last_seq: number;
  /** The member already has a history row from this operation (a repeat in another chunk). */
  seen: boolean;
};

/**
 * The members' state, with `seen`; only a member whose sequence has reached the operation's can
 * have a history row from it, so the probe is skipped for every other (in a fresh batch, all).
 * One unique-index probe per member: as an EXISTS, a fresh operation (not in the statistics yet)
 * got a hashed subplan reading every history row it had written so far, on every chunk.
 */
const memberState = (
  { operationId, month }: HistoryScope,
  seq: number,
  memberIds: readonly string[],
  lock: boolean,
) => sql<MemberStateRow>`
  SELECT m.member_id, m.enterprise_id, m.sharing_enabled, m.last_seq, s.seen IS NOT NULL AS seen
  FROM members m
  LEFT JOIN LATERAL (SELECT true AS seen FROM sharing_history h
                     WHERE m.last_seq >= ${seq}::int8 AND h.operation_id = ${operationId}::text
                       AND h.member_id = m.member_id AND h.operation_month = ${month}::date
                     LIMIT 1) s ON true
  WHERE m.member_id = ANY(${memberIds}::text[])
  ${lock ? sql`ORDER BY m.member_id FOR UPDATE OF m` : sql``}`;

/**
 * Reads the members' state without locking it: the chunk's writes are guarded by what it read
 * (`writeMemberChanges`), and a chunk whose members moved meanwhile runs again with `lockMembers`.
 */
export const readMembers = namedStatement(
  'read_members',
  (scope: HistoryScope, seq: number, memberIds: readonly string[]) => memberState(scope, seq, memberIds, false),
);

/** Locks the members' rows in a fixed order and reads their state. */
export const lockMembers = namedStatement(
  'lock_members',
  (scope: HistoryScope, seq: number, memberIds: readonly string[]) => memberState(scope, seq, memberIds, true),
);

const writeMemberChangesStatement = namedStatement(
  'write_member_changes',
  (
    operation: HistoryScope & { seq: number; enterpriseId: string },
    rows: readonly {
      member_id: string;
      enterprise_id: string | null;
      sharing_enabled: boolean;
      last_seq: number;
      read_seq: number;
    }[],
    history: readonly {
      member_id: string;
      action: string;
      sharing_before: boolean | null;
      sharing_after: boolean | null;
      outcome: string;
      arrears_risk: boolean;
    }[],
  ) => sql<never>`
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
      FROM ${recordsTable(rows, { member_id: 'text', enterprise_id: 'text', sharing_enabled: 'bool', last_seq: 'int8', read_seq: 'int8' }, 'v')}
      WHERE m.member_id = v.member_id AND m.last_seq = v.read_seq
      RETURNING 1
    ),
    guard AS (
      SELECT chunk_guard((SELECT count(*) FROM written) = ${rows.length}::int8, 'a member changed after the chunk read it')
    )
    INSERT INTO sharing_history
      (operation_id, operation_month, operation_seq, enterprise_id, member_id, action, sharing_before, sharing_after, outcome, arrears_risk)
    SELECT ${operation.operationId}::text, ${operation.month}::date, ${operation.seq}::int8, ${operation.enterpriseId}::text,
           c.member_id, c.action, c.sharing_before, c.sharing_after, c.outcome, c.arrears_risk
    FROM ${recordsTable(history, { member_id: 'text', action: 'text', sharing_before: 'bool', sharing_after: 'bool', outcome: 'text', arrears_risk: 'bool' }, 'c')}
    CROSS JOIN guard`,
);

/**
 * Writes a chunk's member rows (`states`) and its history rows (`changes`: one per applied,
 * unchanged or superseded item) in one statement; nothing to write, no statement. Each row is
 * written only if its sequence is still the one read (`read`): every write to a member moves its
 * sequence to the operation's, so an unmoved sequence is an unchanged member. Otherwise the
 * statement fails (`chunk_guard`) and the chunk runs again under locks. Two chunks never write
 * one member at once: a member belongs to one chunk of its operation (repeats are not written),
 * and an operation touching it waits for every earlier unfinished one that does (its claims),
 * so the order rows are locked in cannot deadlock.
 */
export function writeMemberChanges(
  operation: HistoryScope & { seq: number; enterpriseId: string },
  read: ReadonlyMap<string, MemberState>,
  states: readonly MemberState[],
  changes: readonly MemberChange[],
): NamedQuery<never>[] {
  if (states.length === 0 && changes.length === 0) return [];
  return [
    writeMemberChangesStatement(
      operation,
      states.map((s) => ({
        member_id: s.memberId,
        enterprise_id: s.enterpriseId,
        sharing_enabled: s.sharingEnabled,
        last_seq: s.lastSeq,
        read_seq: readSeq(read, s.memberId),
      })),
      changes.map((c) => ({
        member_id: c.memberId,
        action: c.action,
        sharing_before: c.sharingBefore,
        sharing_after: c.sharingAfter,
        outcome: c.outcome,
        arrears_risk: c.arrearsRisk === true,
      })),
    ),
  ];
}

function readSeq(read: ReadonlyMap<string, MemberState>, memberId: string): number {
  const state = read.get(memberId);
  if (!state) throw new Error(`member ${memberId} is written but was not read`);
  return state.lastSeq;
}

export interface MemberStates {
  states: Map<string, MemberState>;
  /** Members that already have a history row from this operation (a repeat in another chunk). */
  seenInOperation: Set<string>;
}

export function toMemberStates(rows: readonly MemberStateRow[]): MemberStates {
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
