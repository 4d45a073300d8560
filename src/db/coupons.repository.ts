import { type Kysely, sql } from 'kysely';
import type { IssuedCoupon } from '../domain/coupons/coupon-issue.rules.js';
import type { LedgerEntry, MemberLedgerState } from '../domain/coupons/coupon-ledger.rules.js';
import type { AllocationMode, CouponState, Holding } from '../domain/coupons/coupon.rules.js';
import { definePrepared, type StatementCall } from './prepared-statements.js';
import type { CouponRow, Database } from './schema.js';

export function toCouponState(row: CouponRow): CouponState & { products: string[] } {
  return {
    couponId: row.coupon_id,
    enterpriseId: row.enterprise_id,
    faceValueCents: row.face_value_cents,
    balanceCents: row.balance_cents,
    allocationMode: row.allocation_mode as AllocationMode,
    validFrom: new Date(row.valid_from),
    validUntil: new Date(row.valid_until),
    allocationOperationId: row.allocation_operation_id,
    products: row.products,
  };
}

type CouponAndClockRow = { now: Date } & { [K in keyof CouponRow]: CouponRow[K] | null };

/** A read of one coupon with the database clock, locked or not. */
export type CouponRead = StatementCall<CouponAndClockRow>;

const couponWithClock = (lock: string) =>
  `SELECT now() AS now, c.*
   FROM (SELECT) AS one
   LEFT JOIN LATERAL (SELECT * FROM coupons WHERE coupon_id = $1 ${lock}) c ON true`;

/**
 * The lock that keeps a coupon's balance exact: every ledger writer takes it before it reads or
 * writes holdings. Also reads the database clock, which decides validity (`now()` is the
 * transaction's start, so reading it with the lock gives the same time as reading it apart), with
 * or without a coupon.
 */
const lockCouponStatement = definePrepared<CouponAndClockRow>('lock_coupon', ['text'], couponWithClock('FOR UPDATE'));

export function lockCoupon(couponId: string): CouponRead {
  return lockCouponStatement.call(couponId);
}

/** The coupon and the clock without the lock, for an allocation that draws with `drawAllocations`. */
const readCouponStatement = definePrepared<CouponAndClockRow>('read_coupon', ['text'], couponWithClock(''));

export function readCoupon(couponId: string): CouponRead {
  return readCouponStatement.call(couponId);
}

export function toCouponAndClock(rows: readonly CouponAndClockRow[]): { coupon: CouponState | undefined; now: Date } {
  const row = rows[0];
  if (!row) throw new Error('a coupon read (lock_coupon or read_coupon) answered with no row');
  return { coupon: row.coupon_id === null ? undefined : toCouponState(row as CouponRow), now: row.now };
}

/** Locks the coupons an issue chunk names, in a fixed order. */
export const lockCoupons = definePrepared<CouponRow>(
  'lock_coupons',
  ['text[]'],
  `SELECT * FROM coupons WHERE coupon_id = ANY($1) ORDER BY coupon_id FOR UPDATE`,
);

export function toCouponStates(rows: readonly CouponRow[]): Map<string, CouponState & { products: string[] }> {
  return new Map(rows.map((r) => [r.coupon_id, toCouponState(r)]));
}

/** Operation-level repeats: coupons this issue operation already wrote history for. */
export const couponsIssuedBy = definePrepared<{ coupon_id: string }>(
  'coupons_issued_by',
  ['text', 'text[]'],
  `SELECT coupon_id FROM coupon_history WHERE operation_id = $1 AND member_id IS NULL AND coupon_id = ANY($2)`,
);

const insertCoupons = definePrepared<never>(
  'insert_issued_coupons',
  ['text', 'text', 'jsonb'],
  `INSERT INTO coupons (coupon_id, enterprise_id, face_value_cents, balance_cents, allocation_mode,
                        valid_from, valid_until, products, issued_by_operation_id)
   SELECT c.coupon_id, $2, c.face_value_cents, c.face_value_cents, c.allocation_mode,
          c.valid_from, c.valid_until, c.products, $1
   FROM jsonb_to_recordset($3) AS c(coupon_id text, face_value_cents int8, allocation_mode text,
                                    valid_from timestamptz, valid_until timestamptz, products text[])`,
);

// A statement of its own, after the coupons' insert: the balance it reads includes the new coupons.
const insertIssueHistory = definePrepared<never>(
  'insert_issue_history',
  ['text', 'text', 'text[]', 'text[]', 'int8[]'],
  `INSERT INTO coupon_history (operation_id, coupon_id, enterprise_id, member_id, action, outcome, amount_cents,
                               coupon_balance_after_cents, member_balance_after_cents)
   SELECT $1, h.coupon_id, $2, NULL, 'issue', h.outcome, h.amount,
          (SELECT balance_cents FROM coupons WHERE coupon_id = h.coupon_id), NULL
   FROM unnest($3, $4, $5) AS h(coupon_id, outcome, amount)`,
);

export function insertIssuedCoupons(
  operationId: string,
  enterpriseId: string,
  coupons: readonly IssuedCoupon[],
): StatementCall<never>[] {
  if (coupons.length === 0) return [];
  const fresh = coupons.filter((c) => c.outcome === 'applied');
  const specs = fresh.map((c) => ({
    coupon_id: c.couponId,
    face_value_cents: c.faceValueCents,
    allocation_mode: c.allocationMode,
    valid_from: c.validFrom,
    valid_until: c.validUntil,
    products: c.products,
  }));
  return [
    ...(fresh.length > 0 ? [insertCoupons.call(operationId, enterpriseId, JSON.stringify(specs))] : []),
    insertIssueHistory.call(
      operationId,
      enterpriseId,
      coupons.map((c) => c.couponId),
      coupons.map((c) => c.outcome),
      coupons.map((c) => (c.outcome === 'applied' ? c.faceValueCents : 0)),
    ),
  ];
}

export interface LedgerMemberRow {
  member_id: string;
  associated: boolean;
  allocated_cents: number | null;
  revoked_cents: number | null;
  spent_cents: number | null;
  unused_cents: number | null;
  seen: boolean;
}

/**
 * The state of each named account towards one coupon: associated with the enterprise, what it
 * holds, and whether this operation already wrote its history row. Holdings need no row lock:
 * every writer holds the coupon's lock first (a statement before this one in the transaction,
 * so this one reads the holdings as they stand once the lock is granted).
 */
const loadLedgerMembersStatement = definePrepared<LedgerMemberRow>(
  'load_ledger_members',
  ['text', 'text', 'text', 'text[]'],
  `SELECT i.member_id,
          (m.enterprise_id IS NOT DISTINCT FROM $2) AS associated,
          mc.allocated_cents, mc.revoked_cents, mc.spent_cents, mc.unused_cents, s.seen IS NOT NULL AS seen
   FROM (SELECT DISTINCT unnest($4) AS member_id) i
   LEFT JOIN members m ON m.member_id = i.member_id
   LEFT JOIN member_coupons mc ON mc.coupon_id = $3 AND mc.member_id = i.member_id
   -- One unique-index probe per member: as an EXISTS, a fresh operation (not in the statistics
   -- yet) got a hashed subplan over every history row it had written so far, on every chunk.
   LEFT JOIN LATERAL (SELECT true AS seen FROM coupon_history h
                      WHERE h.operation_id = $1 AND h.coupon_id = $3 AND h.member_id = i.member_id
                      LIMIT 1) s ON true`,
);

export function loadLedgerMembers(
  operationId: string,
  enterpriseId: string,
  couponId: string,
  memberIds: readonly string[],
): StatementCall<LedgerMemberRow> {
  return loadLedgerMembersStatement.call(operationId, enterpriseId, couponId, memberIds);
}

export function toLedgerMembers(rows: readonly LedgerMemberRow[]): Map<string, MemberLedgerState> {
  return new Map(
    rows.map((r) => [
      r.member_id,
      {
        associated: r.associated,
        seenInOperation: r.seen,
        holding:
          r.unused_cents === null
            ? null
            : {
                allocatedCents: r.allocated_cents!,
                revokedCents: r.revoked_cents!,
                spentCents: r.spent_cents!,
                unusedCents: r.unused_cents,
              },
      },
    ]),
  );
}

const associatedMembersStatement = definePrepared<{ member_id: string }>(
  'associated_members',
  ['text', 'text[]'],
  `SELECT member_id FROM members WHERE member_id = ANY($2) AND enterprise_id = $1`,
);

/** Which of the named accounts are associated with the enterprise, and nothing else about them. */
export function associatedMembers(enterpriseId: string, memberIds: readonly string[]) {
  return associatedMembersStatement.call(enterpriseId, memberIds);
}

/** The members found associated, as the ledger rules take them: holdings and history unread. */
export function toAssociatedMembers(rows: readonly { member_id: string }[]): Map<string, MemberLedgerState> {
  return new Map(rows.map((r) => [r.member_id, { associated: true, holding: null, seenInOperation: false }]));
}

const writeLedgerChangesStatement = definePrepared<never>(
  'write_ledger_changes',
  [
    'text',
    'text',
    'text',
    'bool',
    'int8',
    'text',
    'text[]',
    'int8[]',
    'int8[]',
    'int8[]',
    'int8[]',
    'text[]',
    'text[]',
    'int8[]',
    'int8[]',
    'int8[]',
  ],
  `WITH coupon AS (
     UPDATE coupons SET balance_cents = $5, allocation_operation_id = $6, updated_at = now()
     WHERE coupon_id = $2 AND $4
   ),
   holdings AS (
     INSERT INTO member_coupons (coupon_id, member_id, enterprise_id, allocated_cents, revoked_cents, spent_cents, unused_cents)
     SELECT $2, h.member_id, $3, h.allocated, h.revoked, h.spent, h.unused
     FROM unnest($7, $8, $9, $10, $11) AS h(member_id, allocated, revoked, spent, unused)
     ON CONFLICT (coupon_id, member_id) DO UPDATE SET
       allocated_cents = EXCLUDED.allocated_cents,
       revoked_cents = EXCLUDED.revoked_cents,
       spent_cents = EXCLUDED.spent_cents,
       unused_cents = EXCLUDED.unused_cents,
       updated_at = now()
   )
   INSERT INTO coupon_history (operation_id, coupon_id, enterprise_id, member_id, action, outcome, amount_cents,
                               coupon_balance_after_cents, member_balance_after_cents)
   SELECT $1, $2, $3, e.member_id, e.action, 'applied', e.amount, e.coupon_after, e.member_after
   FROM unnest($12, $13, $14, $15, $16) AS e(member_id, action, amount, coupon_after, member_after)`,
);

/**
 * Writes what a ledger chunk decided in one statement: the coupon's balance (when it changed),
 * every changed holding, and one history row per applied item. The caller holds the coupon's lock.
 */
export function writeLedgerChanges(
  operationId: string,
  couponId: string,
  enterpriseId: string,
  change: { coupon: CouponState | null; holdings: ReadonlyMap<string, Holding>; entries: readonly LedgerEntry[] },
): StatementCall<never>[] {
  const { coupon, entries } = change;
  const holdings = [...change.holdings];
  if (!coupon && holdings.length === 0 && entries.length === 0) return [];
  return [
    writeLedgerChangesStatement.call(
      operationId,
      couponId,
      enterpriseId,
      coupon !== null,
      coupon?.balanceCents ?? null,
      coupon?.allocationOperationId ?? null,
      holdings.map(([id]) => id),
      holdings.map(([, h]) => h.allocatedCents),
      holdings.map(([, h]) => h.revokedCents),
      holdings.map(([, h]) => h.spentCents),
      holdings.map(([, h]) => h.unusedCents),
      entries.map((e) => e.memberId),
      entries.map((e) => e.action),
      entries.map((e) => e.amountCents),
      entries.map((e) => e.couponBalanceAfterCents),
      entries.map((e) => e.memberBalanceAfterCents),
    ),
  ];
}

const drawFromCouponStatement = definePrepared<never>(
  'draw_from_coupon',
  ['text', 'int8', 'text'],
  `WITH drawn AS (
     UPDATE coupons SET balance_cents = balance_cents - $2, updated_at = now()
     WHERE coupon_id = $1 AND balance_cents >= $2 AND allocation_operation_id IS NOT DISTINCT FROM $3
     RETURNING coupon_id)
   SELECT chunk_guard(EXISTS (SELECT FROM drawn), 'coupon ' || $1 || ' no longer covers the chunk as read')`,
);

const writeDrawnAllocationsStatement = definePrepared<never>(
  'write_drawn_allocations',
  ['text', 'text', 'text', 'text[]', 'int8[]', 'int8[]'],
  `WITH holdings AS (
     INSERT INTO member_coupons AS mc (coupon_id, member_id, enterprise_id, allocated_cents, unused_cents)
     SELECT $2, e.member_id, $3, e.amount, e.amount FROM unnest($4, $5) AS e(member_id, amount)
     ON CONFLICT (coupon_id, member_id) DO UPDATE SET
       allocated_cents = mc.allocated_cents + EXCLUDED.allocated_cents,
       unused_cents = mc.unused_cents + EXCLUDED.unused_cents,
       updated_at = now()
     RETURNING member_id, unused_cents
   )
   INSERT INTO coupon_history (operation_id, coupon_id, enterprise_id, member_id, action, outcome, amount_cents,
                               coupon_balance_after_cents, member_balance_after_cents)
   SELECT $1, $2, $3, e.member_id, 'allocate', 'applied', e.amount, c.balance_cents + e.drawn_later, h.unused_cents
   FROM unnest($4, $5, $6) WITH ORDINALITY AS e(member_id, amount, drawn_later, n)
   JOIN holdings h USING (member_id)
   CROSS JOIN (SELECT balance_cents FROM coupons WHERE coupon_id = $2) c
   ORDER BY e.n`,
);

/**
 * Writes allocations decided from a coupon read without its lock: draws their total from the
 * balance, which aborts the transaction (`chunk_guard`) unless the balance still covers it and
 * the coupon is still taken by the same operation, then adds each amount to its holding. The draw
 * comes first: it takes the coupon's row lock before any holding is touched, as every ledger
 * writer does. The balances after each item are those of the order the draws committed in.
 */
export function drawAllocations(
  operationId: string,
  couponId: string,
  enterpriseId: string,
  takenBy: string | null,
  entries: readonly LedgerEntry[],
): StatementCall<never>[] {
  if (entries.length === 0) return [];
  const amounts = entries.map((e) => e.amountCents);
  let drawnLater = amounts.reduce((sum, a) => sum + a, 0);
  const total = drawnLater;
  return [
    drawFromCouponStatement.call(couponId, total, takenBy),
    writeDrawnAllocationsStatement.call(
      operationId,
      couponId,
      enterpriseId,
      entries.map((e) => e.memberId),
      amounts,
      amounts.map((a) => (drawnLater -= a)),
    ),
  ];
}

// ---- reads -------------------------------------------------------------------------------

/** Coupons with what their members still hold of them (`allocated_outstanding_cents`). */
function couponsWithOutstanding(db: Kysely<Database>) {
  return db
    .selectFrom('coupons as c')
    .selectAll('c')
    .select((eb) =>
      eb
        .selectFrom('member_coupons as mc')
        .select((e) => e.fn.coalesce(e.fn.sum<number>('mc.unused_cents'), sql<number>`0`).as('s'))
        .whereRef('mc.coupon_id', '=', 'c.coupon_id')
        .as('allocated_outstanding_cents'),
    );
}

export async function findCoupon(db: Kysely<Database>, couponId: string) {
  return couponsWithOutstanding(db).where('c.coupon_id', '=', couponId).executeTakeFirst();
}

export async function listEnterpriseCoupons(
  db: Kysely<Database>,
  enterpriseId: string,
  afterCouponId: string | null,
  limit: number,
) {
  let query = couponsWithOutstanding(db).where('c.enterprise_id', '=', enterpriseId);
  if (afterCouponId !== null) query = query.where('c.coupon_id', '>', afterCouponId);
  return query.orderBy('c.coupon_id').limit(limit).execute();
}

export async function listMemberCoupons(db: Kysely<Database>, enterpriseId: string, memberId: string) {
  return db
    .selectFrom('member_coupons as mc')
    .innerJoin('coupons as c', 'c.coupon_id', 'mc.coupon_id')
    .select([
      'mc.coupon_id',
      'mc.allocated_cents',
      'mc.revoked_cents',
      'mc.spent_cents',
      'mc.unused_cents',
      'c.valid_from',
      'c.valid_until',
      'c.products',
    ])
    .where('mc.enterprise_id', '=', enterpriseId)
    .where('mc.member_id', '=', memberId)
    .orderBy('mc.coupon_id')
    .execute();
}

/** Newest first; the cursor is the id of the last row of the previous page. */
export async function listCouponHistory(
  db: Kysely<Database>,
  filter: { couponId?: string; enterpriseId?: string; memberId?: string },
  beforeId: number | null,
  limit: number,
) {
  let query = db.selectFrom('coupon_history').selectAll();
  if (filter.couponId !== undefined) query = query.where('coupon_id', '=', filter.couponId);
  if (filter.enterpriseId !== undefined) query = query.where('enterprise_id', '=', filter.enterpriseId);
  if (filter.memberId !== undefined) query = query.where('member_id', '=', filter.memberId);
  if (beforeId !== null) query = query.where('id', '<', beforeId);
  return query.orderBy('id', 'desc').limit(limit).execute();
}
