import { type Kysely, sql } from 'kysely';
import { formatCents } from '../domain/money.js';
import { formatQuantity } from '../domain/quantity.js';
import type { Database } from '../db/schema.js';
import { iso } from './page.js';

/** A package the member may draw on now: `remaining` in its unit. */
export interface PackageBenefitView {
  source: 'own_package' | 'master_package';
  benefitId: string;
  product: string;
  unit: string;
  remaining: string;
  validFrom: string;
  validUntil: string;
}

/** Coupon money the member may pay with now: its unused allocation, or the master's unallocated balance. */
export interface CouponBenefitView {
  source: 'member_coupon' | 'master_coupon';
  benefitId: string;
  products: string[];
  amount: string;
  validFrom: string;
  validUntil: string;
}

export interface MemberBenefitsView {
  enterpriseId: string;
  memberId: string;
  /** The product asked about; null: every product. */
  product: string | null;
  sharingEnabled: boolean;
  /** The database clock the validity windows were judged at. */
  at: string;
  items: (PackageBenefitView | CouponBenefitView)[];
}

interface BenefitRow {
  /** Null on the one row of a member with nothing to draw on: it still carries `at`. */
  source: string | null;
  benefit_id: string;
  product: string | null;
  unit: string | null;
  products: string[] | null;
  remaining_micros: number | null;
  amount_cents: number | null;
  valid_from: Date;
  valid_until: Date;
  at: Date;
}

/**
 * Everything the member could draw on now, in the order a record settled now would use it
 * (`src/kinds/usage/settlement.rules.ts`): its own packages, the master's when `sharingEnabled`,
 * its allocated coupons, the master's unallocated balances. Packages go by soonest `validUntil`,
 * earliest `validFrom`, first issued; coupons by soonest `validUntil`, smallest balance, first
 * issued. One statement, so every tier is judged at the same `now()`; a member with nothing to
 * draw on still gets one row, carrying that `now()`.
 */
export async function listMemberBenefits(
  db: Kysely<Database>,
  member: { enterpriseId: string; memberId: string; sharingEnabled: boolean },
  product: string | null,
): Promise<MemberBenefitsView> {
  const { enterpriseId, memberId, sharingEnabled } = member;
  // Filters of a record settled now (`validFrom <= usedAt < validUntil`), by the database clock.
  const forProduct = product === null ? sql`true` : sql`p.product = ${product}::text`;
  const couponForProduct = product === null ? sql`true` : sql`${product}::text = ANY(c.products)`;
  const packagesNow = sql`p.enterprise_id = ${enterpriseId}::text AND p.remaining_micros > 0
    AND p.valid_from <= now() AND p.valid_until > now() AND ${forProduct}`;
  const couponsNow = sql`c.enterprise_id = ${enterpriseId}::text
    AND c.valid_from <= now() AND c.valid_until > now() AND ${couponForProduct}`;
  const { rows } = await sql<BenefitRow>`
    SELECT n.at, b.source, b.benefit_id, b.product, b.unit, b.products, b.remaining_micros, b.amount_cents,
           b.valid_from, b.valid_until
    FROM (SELECT now() AS at) n LEFT JOIN (
      SELECT 1 AS tier, 'own_package' AS source, p.package_id AS benefit_id, p.product, p.unit,
             NULL::text[] AS products, p.remaining_micros, NULL::int8 AS amount_cents, p.valid_from, p.valid_until,
             p.issued_seq
      FROM packages p WHERE p.owner_member_id = ${memberId}::text AND ${packagesNow}
      UNION ALL
      SELECT 2, 'master_package', p.package_id, p.product, p.unit, NULL, p.remaining_micros, NULL, p.valid_from,
             p.valid_until, p.issued_seq
      FROM packages p WHERE ${sharingEnabled}::bool AND p.owner_member_id IS NULL AND ${packagesNow}
      UNION ALL
      SELECT 3, 'member_coupon', c.coupon_id, NULL, NULL, c.products, NULL, mc.unused_cents, c.valid_from,
             c.valid_until, c.issued_seq
      FROM member_coupons mc JOIN coupons c ON c.coupon_id = mc.coupon_id
      WHERE mc.member_id = ${memberId}::text AND mc.enterprise_id = ${enterpriseId}::text AND mc.unused_cents > 0
        AND ${couponsNow}
      UNION ALL
      SELECT 4, 'master_coupon', c.coupon_id, NULL, NULL, c.products, NULL, c.balance_cents, c.valid_from,
             c.valid_until, c.issued_seq
      FROM coupons c WHERE c.balance_cents > 0 AND ${couponsNow}
    ) b ON true
    ORDER BY b.tier, b.valid_until, CASE WHEN b.tier <= 2 THEN b.valid_from END,
             CASE WHEN b.tier > 2 THEN b.amount_cents END, b.issued_seq`.execute(db);
  return {
    enterpriseId,
    memberId,
    product,
    sharingEnabled,
    at: iso(rows[0]!.at),
    items: rows.flatMap((r) => (r.source === null ? [] : [benefitView(r)])),
  };
}

function benefitView(row: BenefitRow): PackageBenefitView | CouponBenefitView {
  const window = { validFrom: iso(row.valid_from), validUntil: iso(row.valid_until) };
  if (row.source === 'own_package' || row.source === 'master_package') {
    return {
      source: row.source,
      benefitId: row.benefit_id,
      product: row.product!,
      unit: row.unit!,
      remaining: formatQuantity(row.remaining_micros!),
      ...window,
    };
  }
  return {
    source: row.source as CouponBenefitView['source'],
    benefitId: row.benefit_id,
    products: row.products!,
    amount: formatCents(row.amount_cents!),
    ...window,
  };
}
