import type { Kysely } from 'kysely';
import type { MemberChange, MemberState } from '../domain/members/member-state.js';
import { definePrepared, type StatementCall } from './prepared-statements.js';
import type { Database } from './schema.js';

const ensureMemberRowsStatement = definePrepared<never>(
  'ensure_member_rows',
  ['text[]'],
  `INSERT INTO members (member_id) SELECT id FROM unnest($1) AS t(id) ORDER BY id ON CONFLICT DO NOTHING`,
);

/** Gives every account named by an association a row to lock, so concurrent chunks serialise on it. */
export function ensureMemberRows(memberIds: readonly string[]): StatementCall<never> {
  return ensureMemberRowsStatement.call(memberIds);
}

export interface MemberRow {
  member_id: string;
  enterprise_id: string | null;
  sharing_enabled: boolean;
  last_seq: number;
  seen: boolean;
}

/**
 * The members' state, with `seen`: the member already has a history row from this operation (a
 * repeat in another chunk); only a member whose sequence has reached the operation's can have
 * one, so the probe is skipped for every other (which, in a fresh batch, is all of them).
 */
const memberStateSql = (lock: string) =>
  `SELECT m.member_id, m.enterprise_id, m.sharing_enabled, m.last_seq, s.seen IS NOT NULL AS seen
   FROM members m
   -- One unique-index probe per member. As an EXISTS, a fresh operation (not in the statistics
   -- yet) got a hashed subplan reading every history row the operation had written so far, on
   -- every chunk: quadratic in the batch size. LATERAL with LIMIT can be neither hashed nor pulled up.
   LEFT JOIN LATERAL (SELECT true AS seen FROM sharing_history h
                      WHERE m.last_seq >= $2 AND h.operation_id = $1 AND h.member_id = m.member_id
                      LIMIT 1) s ON true
   WHERE m.member_id = ANY($3)${lock}`;

/**
 * Reads the members' state without locking it: the chunk's writes are guarded by what it read
 * (`writeMemberChanges`), and a chunk whose members moved meanwhile runs again with `lockMembers`.
 */
export const readMembers = definePrepared<MemberRow>('read_members', ['text', 'int8', 'text[]'], memberStateSql(''));

/** Locks the members' rows in a fixed order (no deadlocks between chunks) and reads their state. */
export const lockMembers = definePrepared<MemberRow>(
  'lock_members',
  ['text', 'int8', 'text[]'],
  memberStateSql('\n   ORDER BY m.member_id\n   FOR UPDATE OF m'),
);

export interface MemberStates {
  states: Map<string, MemberState>;
  /** Members that already have a history row from this operation (a repeat in another chunk). */
  seenInOperation: Set<string>;
}

export function toMemberStates(rows: readonly MemberRow[]): MemberStates {
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

const writeMemberChangesStatement = definePrepared<never>(
  'write_member_changes',
  [
    'text',
    'int8',
    'text',
    'text[]',
    'text[]',
    'bool[]',
    'int8[]',
    'int8[]',
    'text[]',
    'text[]',
    'bool[]',
    'bool[]',
    'text[]',
  ],
  `WITH written AS (
     UPDATE members m SET
       enterprise_id = v.enterprise_id,
       sharing_enabled = v.sharing_enabled,
       last_seq = v.last_seq,
       associated_at = CASE
         WHEN v.enterprise_id IS NULL THEN NULL
         WHEN m.enterprise_id IS DISTINCT FROM v.enterprise_id THEN now()
         ELSE m.associated_at END,
       updated_at = now()
     FROM unnest($4, $5, $6, $7, $8) AS v(member_id, enterprise_id, sharing_enabled, last_seq, read_seq)
     WHERE m.member_id = v.member_id AND m.last_seq = v.read_seq
     RETURNING 1
   ),
   guard AS (
     SELECT chunk_guard((SELECT count(*) FROM written) = cardinality($4), 'a member changed after the chunk read it'))
   INSERT INTO sharing_history
     (operation_id, operation_seq, enterprise_id, member_id, action, sharing_before, sharing_after, outcome)
   SELECT $1, $2, $3, c.member_id, c.action, c.sharing_before, c.sharing_after, c.outcome
   FROM unnest($9, $10, $11, $12, $13) AS c(member_id, action, sharing_before, sharing_after, outcome)
   CROSS JOIN guard`,
);

/**
 * Writes a chunk's member rows (`states`) and its history rows (`changes`: one per applied,
 * unchanged or superseded item) in one statement; nothing to write, no statement. Each row is
 * written only if its sequence is still the one read (`read`): every write to a member moves its
 * sequence to the operation's, so an unmoved sequence is an unchanged member. Otherwise the
 * statement fails (`chunk_guard`) and the chunk runs again under locks. Rows are updated in id
 * order, which for the ids the contract allows is the order `lockMembers` locks in under a C
 * collation: chunks waiting on each other's rows do not deadlock. (Under another collation a
 * deadlock aborts one of them, which then runs under locks.)
 */
export function writeMemberChanges(
  operation: { operationId: string; seq: number; enterpriseId: string },
  read: ReadonlyMap<string, MemberState>,
  states: readonly MemberState[],
  changes: readonly MemberChange[],
): StatementCall<never>[] {
  if (states.length === 0 && changes.length === 0) return [];
  const ordered = [...states].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  return [
    writeMemberChangesStatement.call(
      operation.operationId,
      operation.seq,
      operation.enterpriseId,
      ordered.map((s) => s.memberId),
      ordered.map((s) => s.enterpriseId),
      ordered.map((s) => s.sharingEnabled),
      ordered.map((s) => s.lastSeq),
      ordered.map((s) => readSeq(read, s.memberId)),
      changes.map((c) => c.memberId),
      changes.map((c) => c.action),
      changes.map((c) => c.sharingBefore),
      changes.map((c) => c.sharingAfter),
      changes.map((c) => c.outcome),
    ),
  ];
}

function readSeq(read: ReadonlyMap<string, MemberState>, memberId: string): number {
  const state = read.get(memberId);
  if (!state) throw new Error(`member ${memberId} is written but was not read`);
  return state.lastSeq;
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
