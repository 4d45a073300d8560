import { type Selectable, sql } from 'kysely';
import { recordsTable } from '../../db/records.js';
import type { MemberCouponsTable } from '../../db/schema.js';
import { namedStatement, type NamedQuery } from '../../db/statements.js';
import type { LedgerEntry, MemberLedgerState } from './coupon-ledger.rules.js';
import type { CouponState, Holding } from './coupon.rules.js';
import { type CouponRow, toCouponState } from './coupons.sql.js';
import type { HistoryScope } from '../kind.js';

type CouponAndClockRow = { now: Date } & { [K in keyof CouponRow]: CouponRow[K] | null };

const couponWithClock = (couponId: string, lock: boolean) => sql<CouponAndClockRow>`
  SELECT now() AS now, c.*
  FROM (SELECT) AS one
  LEFT JOIN LATERAL (SELECT * FROM coupons WHERE coupon_id = ${couponId}::text ${lock ? sql`FOR UPDATE` : sql``}) c ON true`;

/**
 * The lock that keeps a coupon's balance exact: every ledger writer takes it before it reads or
 * writes holdings. Also reads the database clock, which decides validity (`now()` is the
 * transaction's start, so reading it with the lock gives the same time as reading it apart), with
 * or without a coupon.
 */
export const lockCoupon = namedStatement('lock_coupon', (couponId: string) => couponWithClock(couponId, true));

/** The coupon and the clock without the lock, for an allocation that draws with `drawAllocations`. */
export const readCoupon = namedStatement('read_coupon', (couponId: string) => couponWithClock(couponId, false));

export type CouponRead = ReturnType<typeof readCoupon>;

export function toCouponAndClock(rows: readonly CouponAndClockRow[]): { coupon: CouponState | undefined; now: Date } {
  const row = rows[0];
  if (!row) throw new Error('a coupon read (lock_coupon or read_coupon) answered with no row');
  return { coupon: row.coupon_id === null ? undefined : toCouponState(row as CouponRow), now: row.now };
}

type LedgerMemberRow = { member_id: string; associated: boolean; seen: boolean } & {
  [K in 'allocated_cents' | 'revoked_cents' | 'spent_cents' | 'unused_cents']: Selectable<MemberCouponsTable>[K] | null;
};

/**
 * The state of each named account towards one coupon: associated with the enterprise, what it
 * holds, and whether this operation already wrote its history row. Holdings need no row lock:
 * every writer holds the coupon's lock first (a statement before this one in the transaction,
 * so this one reads the holdings as they stand once the lock is granted).
 */
export const loadLedgerMembers = namedStatement(
  'load_ledger_members',
  (
    { operationId, month }: HistoryScope,
    enterpriseId: string,
    couponId: string,
    memberIds: readonly string[],
  ) => sql<LedgerMemberRow>`
    SELECT i.member_id,
           (m.enterprise_id IS NOT DISTINCT FROM ${enterpriseId}::text) AS associated,
           mc.allocated_cents, mc.revoked_cents, mc.spent_cents, mc.unused_cents, s.seen IS NOT NULL AS seen
    FROM (SELECT DISTINCT unnest(${memberIds}::text[]) AS member_id) i
    LEFT JOIN members m ON m.member_id = i.member_id
    LEFT JOIN member_coupons mc ON mc.coupon_id = ${couponId}::text AND mc.member_id = i.member_id
    -- One unique-index probe per member: as an EXISTS, a fresh operation (not in the statistics
    -- yet) got a hashed subplan over every history row it had written so far, on every chunk.
    LEFT JOIN LATERAL (SELECT true AS seen FROM coupon_history h
                       WHERE h.operation_id = ${operationId}::text AND h.coupon_id = ${couponId}::text
                         AND h.member_id = i.member_id AND h.operation_month = ${month}::date
                       LIMIT 1) s ON true`,
);

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

/** Which of the named accounts are associated with the enterprise, and nothing else about them. */
export const associatedMembers = namedStatement(
  'associated_members',
  (enterpriseId: string, memberIds: readonly string[]) => sql<{ member_id: string }>`
    SELECT member_id FROM members WHERE member_id = ANY(${memberIds}::text[]) AND enterprise_id = ${enterpriseId}::text`,
);

/** The members found associated, as the ledger rules take them: holdings and history unread. */
export function toAssociatedMembers(rows: readonly { member_id: string }[]): Map<string, MemberLedgerState> {
  return new Map(rows.map((r) => [r.member_id, { associated: true, holding: null, seenInOperation: false }]));
}

interface LedgerScope extends HistoryScope {
  couponId: string;
  enterpriseId: string;
}

const entriesTable = (entries: readonly LedgerEntry[]) =>
  recordsTable(
    entries.map((e) => ({
      member_id: e.memberId,
      action: e.action,
      amount: e.amountCents,
      coupon_after: e.couponBalanceAfterCents,
      member_after: e.memberBalanceAfterCents,
    })),
    { member_id: 'text', action: 'text', amount: 'int8', coupon_after: 'int8', member_after: 'int8' },
    'e',
  );

const writeLedgerChangesStatement = namedStatement(
  'write_ledger_changes',
  (
    scope: LedgerScope,
    coupon: CouponState | null,
    holdings: readonly [string, Holding][],
    entries: readonly LedgerEntry[],
  ) => sql<never>`
    WITH coupon AS (
      UPDATE coupons SET balance_cents = ${coupon?.balanceCents ?? null}::int8,
                         allocation_operation_id = ${coupon?.allocationOperationId ?? null}::text, updated_at = now()
      WHERE coupon_id = ${scope.couponId}::text AND ${coupon !== null}::bool
    ),
    holdings AS (
      INSERT INTO member_coupons (coupon_id, member_id, enterprise_id, allocated_cents, revoked_cents, spent_cents, unused_cents)
      SELECT ${scope.couponId}::text, h.member_id, ${scope.enterpriseId}::text, h.allocated, h.revoked, h.spent, h.unused
      FROM ${recordsTable(
        holdings.map(([memberId, h]) => ({
          member_id: memberId,
          allocated: h.allocatedCents,
          revoked: h.revokedCents,
          spent: h.spentCents,
          unused: h.unusedCents,
        })),
        { member_id: 'text', allocated: 'int8', revoked: 'int8', spent: 'int8', unused: 'int8' },
        'h',
      )}
      ON CONFLICT (coupon_id, member_id) DO UPDATE SET
        allocated_cents = EXCLUDED.allocated_cents,
        revoked_cents = EXCLUDED.revoked_cents,
        spent_cents = EXCLUDED.spent_cents,
        unused_cents = EXCLUDED.unused_cents,
        updated_at = now()
    )
    INSERT INTO coupon_history (operation_id, operation_month, coupon_id, enterprise_id, member_id, action, outcome,
                                amount_cents, coupon_balance_after_cents, member_balance_after_cents)
    SELECT ${scope.operationId}::text, ${scope.month}::date, ${scope.couponId}::text, ${scope.enterpriseId}::text,
           e.member_id, e.action, 'applied', e.amount, e.coupon_after, e.member_after
    FROM ${entriesTable(entries)}`,
);

/**
 * Writes what a ledger chunk decided in one statement: the coupon's balance (when it changed),
 * every changed holding, and one history row per applied item. The caller holds the coupon's lock.
 */
export function writeLedgerChanges(
  scope: LedgerScope,
  change: { coupon: CouponState | null; holdings: ReadonlyMap<string, Holding>; entries: readonly LedgerEntry[] },
): NamedQuery<never>[] {
  const { coupon, entries } = change;
  const holdings = [...change.holdings];
  if (!coupon && holdings.length === 0 && entries.length === 0) return [];
  return [writeLedgerChangesStatement(scope, coupon, holdings, entries)];
}

const drawFromCoupon = namedStatement(
  'draw_from_coupon',
  (couponId: string, totalCents: number, takenBy: string | null) => sql<never>`
    WITH drawn AS (
      UPDATE coupons SET balance_cents = balance_cents - ${totalCents}::int8, updated_at = now()
      WHERE coupon_id = ${couponId}::text AND balance_cents >= ${totalCents}::int8
        AND allocation_operation_id IS NOT DISTINCT FROM ${takenBy}::text
      RETURNING coupon_id)
    SELECT chunk_guard(EXISTS (SELECT FROM drawn), 'coupon ' || ${couponId}::text || ' no longer covers the chunk as read')`,
);

const writeDrawnAllocations = namedStatement(
  'write_drawn_allocations',
  (scope: LedgerScope, draws: readonly { member_id: string; amount: number; drawn_later: number }[]) => sql<never>`
    WITH draws AS (
      SELECT * FROM ${recordsTable(draws, { member_id: 'text', amount: 'int8', drawn_later: 'int8' }, 'd', 'n')}
    ),
    holdings AS (
      INSERT INTO member_coupons AS mc (coupon_id, member_id, enterprise_id, allocated_cents, unused_cents)
      SELECT ${scope.couponId}::text, member_id, ${scope.enterpriseId}::text, amount, amount FROM draws
      ON CONFLICT (coupon_id, member_id) DO UPDATE SET
        allocated_cents = mc.allocated_cents + EXCLUDED.allocated_cents,
        unused_cents = mc.unused_cents + EXCLUDED.unused_cents,
        updated_at = now()
      RETURNING member_id, unused_cents
    )
    INSERT INTO coupon_history (operation_id, operation_month, coupon_id, enterprise_id, member_id, action, outcome,
                                amount_cents, coupon_balance_after_cents, member_balance_after_cents)
    SELECT ${scope.operationId}::text, ${scope.month}::date, ${scope.couponId}::text, ${scope.enterpriseId}::text,
           d.member_id, 'allocate',
           'applied', d.amount, c.balance_cents + d.drawn_later, h.unused_cents
    FROM draws d
    JOIN holdings h USING (member_id)
    CROSS JOIN (SELECT balance_cents FROM coupons WHERE coupon_id = ${scope.couponId}::text) c
    ORDER BY d.n`,
);

/**
 * Writes allocations decided from a coupon read without its lock: draws their total from the
 * balance, which aborts the transaction (`chunk_guard`) unless the balance still covers it and
 * the coupon is still taken by the same operation, then adds each amount to its holding. The draw
 * comes first: it takes the coupon's row lock before any holding is touched, as every ledger
 * writer does. The balances after each item are those of batch order.
 */
export function drawAllocations(
  scope: LedgerScope,
  takenBy: string | null,
  entries: readonly LedgerEntry[],
): NamedQuery<never>[] {
  if (entries.length === 0) return [];
  let drawnLater = entries.reduce((sum, e) => sum + e.amountCents, 0);
  const total = drawnLater;
  return [
    drawFromCoupon(scope.couponId, total, takenBy),
    writeDrawnAllocations(
      scope,
      entries.map((e) => ({
        member_id: e.memberId,
        amount: e.amountCents,
        drawn_later: (drawnLater -= e.amountCents),
      })),
    ),
  ];
}
