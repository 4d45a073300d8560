import type { Kysely } from 'kysely';
import { formatCents } from '../domain/money.js';
import type { CouponHistoryRow, Database } from '../db/schema.js';
import { isAllocatable } from '../kinds/coupons/coupon.rules.js';
import { type CouponRow, toCouponState } from '../kinds/coupons/coupons.sql.js';
import { iso, PAGE_SIZE, type Page, pageOf } from './page.js';

export interface CouponView {
  couponId: string;
  enterpriseId: string;
  faceValue: string;
  balance: string;
  allocatedOutstanding: string;
  /** Spent on usage: from members' allocations and straight from the unallocated balance. */
  spent: string;
  allocationMode: string;
  validFrom: string;
  validUntil: string;
  products: string[];
  allocatable: boolean;
}

export interface CouponHistoryView {
  operationId: string;
  couponId: string;
  memberId: string | null;
  action: string;
  outcome: string;
  amount: string;
  couponBalanceAfter: string;
  memberBalanceAfter: string | null;
  at: string;
  /** The API key that published the operation (null: published another way). */
  publishedBy: string | null;
}

export interface MemberCouponView {
  couponId: string;
  allocated: string;
  revoked: string;
  spent: string;
  unused: string;
  validFrom: string;
  validUntil: string;
  products: string[];
}

function couponView(
  row: CouponRow & { allocated_outstanding_cents: number | null; members_spent_cents: number | null },
  now: Date,
): CouponView {
  return {
    couponId: row.coupon_id,
    enterpriseId: row.enterprise_id,
    faceValue: formatCents(row.face_value_cents),
    balance: formatCents(row.balance_cents),
    allocatedOutstanding: formatCents(Number(row.allocated_outstanding_cents ?? 0)),
    spent: formatCents(row.spent_cents + Number(row.members_spent_cents ?? 0)),
    allocationMode: row.allocation_mode,
    validFrom: iso(row.valid_from),
    validUntil: iso(row.valid_until),
    products: row.products,
    allocatable: isAllocatable(toCouponState(row), now),
  };
}

function historyView(row: CouponHistoryRow & { published_by: string | null }): CouponHistoryView {
  return {
    operationId: row.operation_id,
    couponId: row.coupon_id,
    memberId: row.member_id,
    action: row.action,
    outcome: row.outcome,
    amount: formatCents(row.amount_cents),
    couponBalanceAfter: formatCents(row.coupon_balance_after_cents),
    memberBalanceAfter: row.member_balance_after_cents === null ? null : formatCents(row.member_balance_after_cents),
    at: row.created_at.toISOString(),
    publishedBy: row.published_by,
  };
}

/**
 * Coupons with what their members still hold of them (`allocated_outstanding_cents`) and have
 * spent of their allocations (`members_spent_cents`): one pass over the coupon's holdings.
 */
function couponsWithOutstanding(db: Kysely<Database>) {
  return db
    .selectFrom('coupons as c')
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('member_coupons as mc')
          .select((e) => [
            e.fn.sum<number>('mc.unused_cents').as('allocated_outstanding_cents'),
            e.fn.sum<number>('mc.spent_cents').as('members_spent_cents'),
          ])
          .whereRef('mc.coupon_id', '=', 'c.coupon_id')
          .as('h'),
      (join) => join.onTrue(),
    )
    .selectAll('c')
    .select(['h.allocated_outstanding_cents', 'h.members_spent_cents']);
}

export async function findCoupon(db: Kysely<Database>, couponId: string): Promise<CouponView | undefined> {
  const row = await couponsWithOutstanding(db).where('c.coupon_id', '=', couponId).executeTakeFirst();
  return row && couponView(row, new Date());
}

/** The enterprise's coupons by id, after `afterCouponId`. */
export async function listEnterpriseCoupons(
  db: Kysely<Database>,
  enterpriseId: string,
  afterCouponId: string | null,
): Promise<Page<CouponView>> {
  let query = couponsWithOutstanding(db).where('c.enterprise_id', '=', enterpriseId);
  if (afterCouponId !== null) query = query.where('c.coupon_id', '>', afterCouponId);
  const rows = await query.orderBy('c.coupon_id').limit(PAGE_SIZE).execute();
  const now = new Date();
  return pageOf(
    rows,
    (r) => r.coupon_id,
    (r) => couponView(r, now),
  );
}

export async function listMemberCoupons(
  db: Kysely<Database>,
  enterpriseId: string,
  memberId: string,
): Promise<{ items: MemberCouponView[] }> {
  const rows = await db
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
  return {
    items: rows.map((r) => ({
      couponId: r.coupon_id,
      allocated: formatCents(r.allocated_cents),
      revoked: formatCents(r.revoked_cents),
      spent: formatCents(r.spent_cents),
      unused: formatCents(r.unused_cents),
      validFrom: iso(r.valid_from),
      validUntil: iso(r.valid_until),
      products: r.products,
    })),
  };
}

/** Newest first; the cursor is the id of the last row of the previous page. */
export async function listCouponHistory(
  db: Kysely<Database>,
  filter: { couponId?: string; enterpriseId?: string; memberId?: string },
  beforeId: number | null,
): Promise<Page<CouponHistoryView>> {
  let query = db
    .selectFrom('coupon_history as h')
    .leftJoin('operation_audit as a', 'a.operation_id', 'h.operation_id')
    .selectAll('h')
    .select('a.published_by');
  if (filter.couponId !== undefined) query = query.where('h.coupon_id', '=', filter.couponId);
  if (filter.enterpriseId !== undefined) query = query.where('h.enterprise_id', '=', filter.enterpriseId);
  if (filter.memberId !== undefined) query = query.where('h.member_id', '=', filter.memberId);
  if (beforeId !== null) query = query.where('h.id', '<', beforeId);
  const rows = await query.orderBy('h.id', 'desc').limit(PAGE_SIZE).execute();
  return pageOf(rows, (r) => r.id, historyView);
}
