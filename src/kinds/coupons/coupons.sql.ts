import { type Selectable, sql } from 'kysely';
import { recordsTable } from '../../db/records.js';
import type { CouponsTable } from '../../db/schema.js';
import { namedStatement, type NamedQuery } from '../../db/statements.js';
import type { IssuedCoupon } from './coupon-issue.rules.js';
import type { AllocationMode, CouponState } from './coupon.rules.js';
import type { HistoryScope } from '../kind.js';

export type CouponRow = Selectable<CouponsTable>;

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

/** Locks the coupons an issue chunk names, in a fixed order. */
export const lockCoupons = namedStatement(
  'lock_coupons',
  (couponIds: readonly string[]) => sql<CouponRow>`
    SELECT * FROM coupons WHERE coupon_id = ANY(${couponIds}::text[]) ORDER BY coupon_id FOR UPDATE`,
);

export function toCouponStates(rows: readonly CouponRow[]): Map<string, CouponState & { products: string[] }> {
  return new Map(rows.map((r) => [r.coupon_id, toCouponState(r)]));
}

/** Operation-level repeats: coupons this issue operation already wrote history for. */
export const couponsIssuedBy = namedStatement(
  'coupons_issued_by',
  ({ operationId, month }: HistoryScope, couponIds: readonly string[]) => sql<{ coupon_id: string }>`
    SELECT coupon_id FROM coupon_history
    WHERE operation_id = ${operationId}::text AND operation_month = ${month}::date AND member_id IS NULL AND coupon_id = ANY(${couponIds}::text[])`,
);

const insertCoupons = namedStatement(
  'insert_issued_coupons',
  (operationId: string, enterpriseId: string, coupons: readonly IssuedCoupon[]) => sql<never>`
    INSERT INTO coupons (coupon_id, enterprise_id, face_value_cents, balance_cents, allocation_mode,
                         valid_from, valid_until, products, issued_by_operation_id)
    SELECT c.coupon_id, ${enterpriseId}::text, c.face_value_cents, c.face_value_cents, c.allocation_mode,
           c.valid_from, c.valid_until, c.products, ${operationId}::text
    FROM jsonb_to_recordset(${JSON.stringify(
      coupons.map((c) => ({
        coupon_id: c.couponId,
        face_value_cents: c.faceValueCents,
        allocation_mode: c.allocationMode,
        valid_from: c.validFrom,
        valid_until: c.validUntil,
        products: c.products,
      })),
    )}::jsonb) AS c(coupon_id text, face_value_cents int8, allocation_mode text,
                    valid_from timestamptz, valid_until timestamptz, products text[])`,
);

// A statement of its own, after the coupons' insert: the balance it reads includes the new coupons.
const insertIssueHistory = namedStatement(
  'insert_issue_history',
  ({ operationId, month }: HistoryScope, enterpriseId: string, coupons: readonly IssuedCoupon[]) => sql<never>`
    INSERT INTO coupon_history (operation_id, operation_month, coupon_id, enterprise_id, member_id, action, outcome,
                                amount_cents, coupon_balance_after_cents, member_balance_after_cents)
    SELECT ${operationId}::text, ${month}::date, h.coupon_id, ${enterpriseId}::text, NULL, 'issue', h.outcome, h.amount,
           (SELECT balance_cents FROM coupons WHERE coupon_id = h.coupon_id), NULL
    FROM ${recordsTable(
      coupons.map((c) => ({
        coupon_id: c.couponId,
        outcome: c.outcome,
        amount: c.outcome === 'applied' ? c.faceValueCents : 0,
      })),
      { coupon_id: 'text', outcome: 'text', amount: 'int8' },
      'h',
    )}`,
);

/** Writes the coupons an issue chunk loads and one history row per coupon, applied or unchanged. */
export function insertIssuedCoupons(
  scope: HistoryScope,
  enterpriseId: string,
  coupons: readonly IssuedCoupon[],
): NamedQuery<never>[] {
  if (coupons.length === 0) return [];
  const fresh = coupons.filter((c) => c.outcome === 'applied');
  return [
    ...(fresh.length > 0 ? [insertCoupons(scope.operationId, enterpriseId, fresh)] : []),
    insertIssueHistory(scope, enterpriseId, coupons),
  ];
}
