import { type Kysely, sql } from 'kysely';
import type { IssuedCoupon } from '../domain/coupons/coupon-issue.rules.js';
import type { LedgerEntry, MemberLedgerState } from '../domain/coupons/coupon-ledger.rules.js';
import type { AllocationMode, CouponState, Holding } from '../domain/coupons/coupon.rules.js';
import { prepared } from './database.js';
import type { CouponRow, Database, Tx } from './schema.js';

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

/**
 * Every ledger change to a coupon goes through this lock: it is what keeps the balance exact.
 * Also reads the database clock, which decides validity (`now()` is the transaction's start,
 * so reading it with the lock gives the same time as reading it apart, one round trip fewer).
 */
export async function lockCoupon(tx: Tx, couponId: string): Promise<{ coupon: CouponState | undefined; now: Date }> {
  const row = await tx
    .selectFrom('coupons')
    .selectAll()
    .select(sql<Date>`now()`.as('now'))
    .where('coupon_id', '=', couponId)
    .forUpdate()
    .executeTakeFirst();
  if (row) return { coupon: toCouponState(row), now: row.now };
  const { rows } = await sql<{ now: Date }>`SELECT now() AS now`.execute(tx);
  return { coupon: undefined, now: rows[0]!.now };
}

export async function lockCoupons(tx: Tx, couponIds: readonly string[]) {
  if (couponIds.length === 0) return new Map<string, CouponState & { products: string[] }>();
  const rows = await tx
    .selectFrom('coupons')
    .selectAll()
    .where('coupon_id', 'in', [...couponIds])
    .orderBy('coupon_id')
    .forUpdate()
    .execute();
  return new Map(rows.map((r) => [r.coupon_id, toCouponState(r)]));
}

/** Operation-level repeats: coupons this issue operation already wrote history for. */
export async function couponsIssuedBy(tx: Tx, operationId: string, couponIds: readonly string[]): Promise<Set<string>> {
  if (couponIds.length === 0) return new Set();
  const rows = await tx
    .selectFrom('coupon_history')
    .select('coupon_id')
    .where('operation_id', '=', operationId)
    .where('member_id', 'is', null)
    .where('coupon_id', 'in', [...couponIds])
    .execute();
  return new Set(rows.map((r) => r.coupon_id));
}

export async function insertIssuedCoupons(
  tx: Tx,
  operationId: string,
  enterpriseId: string,
  coupons: readonly IssuedCoupon[],
): Promise<void> {
  const fresh = coupons.filter((c) => c.outcome === 'applied');
  if (fresh.length > 0) {
    await tx
      .insertInto('coupons')
      .values(
        fresh.map((c) => ({
          coupon_id: c.couponId,
          enterprise_id: enterpriseId,
          face_value_cents: c.faceValueCents,
          balance_cents: c.faceValueCents,
          allocation_mode: c.allocationMode,
          valid_from: c.validFrom,
          valid_until: c.validUntil,
          products: c.products,
          issued_by_operation_id: operationId,
        })),
      )
      .execute();
  }
  if (coupons.length === 0) return;
  await tx
    .insertInto('coupon_history')
    .values(
      coupons.map((c) => ({
        operation_id: operationId,
        coupon_id: c.couponId,
        enterprise_id: enterpriseId,
        member_id: null,
        action: 'issue',
        outcome: c.outcome,
        amount_cents: c.outcome === 'applied' ? c.faceValueCents : 0,
        coupon_balance_after_cents: sql<number>`(SELECT balance_cents FROM coupons WHERE coupon_id = ${c.couponId})`,
        member_balance_after_cents: null,
      })),
    )
    .execute();
}

/**
 * The state of each named account towards one coupon: associated with the enterprise, what it
 * holds, and whether this operation already wrote its history row. Holdings need no row lock:
 * every writer holds the coupon's lock first.
 */
export async function loadLedgerMembers(
  tx: Tx,
  operationId: string,
  enterpriseId: string,
  couponId: string,
  memberIds: readonly string[],
): Promise<Map<string, MemberLedgerState>> {
  const { rows } = await sql<{
    member_id: string;
    associated: boolean;
    allocated_cents: number | null;
    revoked_cents: number | null;
    spent_cents: number | null;
    unused_cents: number | null;
    seen: boolean;
  }>`${prepared('load-ledger-members')}
    SELECT i.member_id,
           (m.enterprise_id IS NOT DISTINCT FROM ${enterpriseId}) AS associated,
           mc.allocated_cents, mc.revoked_cents, mc.spent_cents, mc.unused_cents, s.seen IS NOT NULL AS seen
    FROM (SELECT DISTINCT unnest(${memberIds}::text[]) AS member_id) i
    LEFT JOIN members m ON m.member_id = i.member_id
    LEFT JOIN member_coupons mc ON mc.coupon_id = ${couponId} AND mc.member_id = i.member_id
    -- One unique-index probe per member: as an EXISTS, a fresh operation (not in the statistics
    -- yet) got a hashed subplan over every history row it had written so far, on every chunk.
    LEFT JOIN LATERAL (SELECT true AS seen FROM coupon_history h
                       WHERE h.operation_id = ${operationId} AND h.coupon_id = ${couponId}
                         AND h.member_id = i.member_id LIMIT 1) s ON true`.execute(tx);
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

/**
 * Writes what a ledger chunk decided in one statement: the coupon's balance (when it changed),
 * every changed holding, and one history row per applied item. The caller holds the coupon's lock.
 */
export async function writeLedgerChanges(
  tx: Tx,
  operationId: string,
  couponId: string,
  enterpriseId: string,
  change: { coupon: CouponState | null; holdings: ReadonlyMap<string, Holding>; entries: readonly LedgerEntry[] },
): Promise<void> {
  const { coupon, entries } = change;
  const holdings = [...change.holdings];
  if (!coupon && holdings.length === 0 && entries.length === 0) return;
  await sql`${prepared('write-ledger-changes')}
    WITH coupon AS (
      UPDATE coupons SET balance_cents = ${coupon?.balanceCents ?? null}::int8,
                         allocation_operation_id = ${coupon?.allocationOperationId ?? null}::text,
                         updated_at = now()
      WHERE coupon_id = ${couponId} AND ${coupon !== null}::bool
    ),
    holdings AS (
      INSERT INTO member_coupons (coupon_id, member_id, enterprise_id, allocated_cents, revoked_cents, spent_cents, unused_cents)
      SELECT ${couponId}, h.member_id, ${enterpriseId}, h.allocated, h.revoked, h.spent, h.unused
      FROM unnest(${holdings.map(([id]) => id)}::text[], ${holdings.map(([, h]) => h.allocatedCents)}::int8[],
                  ${holdings.map(([, h]) => h.revokedCents)}::int8[], ${holdings.map(([, h]) => h.spentCents)}::int8[],
                  ${holdings.map(([, h]) => h.unusedCents)}::int8[]) AS h(member_id, allocated, revoked, spent, unused)
      ON CONFLICT (coupon_id, member_id) DO UPDATE SET
        allocated_cents = EXCLUDED.allocated_cents,
        revoked_cents = EXCLUDED.revoked_cents,
        spent_cents = EXCLUDED.spent_cents,
        unused_cents = EXCLUDED.unused_cents,
        updated_at = now()
    )
    INSERT INTO coupon_history (operation_id, coupon_id, enterprise_id, member_id, action, outcome, amount_cents,
                                coupon_balance_after_cents, member_balance_after_cents)
    SELECT ${operationId}, ${couponId}, ${enterpriseId}, e.member_id, e.action, 'applied', e.amount, e.coupon_after, e.member_after
    FROM unnest(${entries.map((e) => e.memberId)}::text[], ${entries.map((e) => e.action)}::text[],
                ${entries.map((e) => e.amountCents)}::int8[], ${entries.map((e) => e.couponBalanceAfterCents)}::int8[],
                ${entries.map((e) => e.memberBalanceAfterCents)}::int8[])
         AS e(member_id, action, amount, coupon_after, member_after)`.execute(tx);
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
