import type pg from 'pg';
import { vacuum } from './common.js';
import { enterpriseIds, type SettlePlan } from './settle-plan.js';

/** Setup, not measured: the enterprises, members, packages, coupons and holdings, then settled in place (`resetSettlement`). */
export async function seedSettlement(pool: pg.Pool, plan: SettlePlan): Promise<void> {
  const all = plan.enterprises;
  await pool.query(`INSERT INTO enterprises (enterprise_id) SELECT unnest($1::text[])`, [enterpriseIds(plan)]);
  const members = all.flatMap((ep) => ep.members.map((m) => ({ ...m, enterpriseId: ep.enterpriseId })));
  await pool.query(
    `INSERT INTO members (member_id, enterprise_id, sharing_enabled, associated_at, last_seq)
     SELECT m.id, m.enterprise, m.sharing, now(), 0 FROM unnest($1::text[], $2::text[], $3::bool[]) AS m(id, enterprise, sharing)`,
    [members.map((m) => m.memberId), members.map((m) => m.enterpriseId), members.map((m) => m.sharing)],
  );
  const packages = all.flatMap((ep) => ep.packages.map((p) => ({ ...p, enterpriseId: ep.enterpriseId })));
  // In plan order, so that issued_seq (an identity) follows it.
  await pool.query(
    `INSERT INTO packages (package_id, enterprise_id, owner_member_id, product, unit, quantity_micros, remaining_micros,
                           valid_from, valid_until, issued_by_operation_id)
     SELECT p.id, p.enterprise, p.owner, p.product, p.unit, p.quantity, p.quantity, p.valid_from, p.valid_until, 'bench-seed'
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::timestamptz[], $8::timestamptz[])
          WITH ORDINALITY AS p(id, enterprise, owner, product, unit, quantity, valid_from, valid_until, ord)
     ORDER BY p.ord`,
    [
      packages.map((p) => p.packageId),
      packages.map((p) => p.enterpriseId),
      packages.map((p) => p.owner),
      packages.map((p) => p.product),
      packages.map((p) => p.unit),
      packages.map((p) => p.quantity),
      packages.map((p) => new Date(p.from)),
      packages.map((p) => new Date(p.until)),
    ],
  );
  const coupons = all.flatMap((ep) => ep.coupons.map((c) => ({ ...c, enterpriseId: ep.enterpriseId })));
  await pool.query(
    `INSERT INTO coupons (coupon_id, enterprise_id, face_value_cents, balance_cents, allocation_mode, valid_from, valid_until,
                          products, issued_by_operation_id)
     SELECT c.id, c.enterprise, c.face, c.balance, 'multiple', c.valid_from, c.valid_until, string_to_array(c.products, ','), 'bench-seed'
     FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::timestamptz[], $6::timestamptz[], $7::text[])
          WITH ORDINALITY AS c(id, enterprise, face, balance, valid_from, valid_until, products, ord)
     ORDER BY c.ord`,
    [
      coupons.map((c) => c.couponId),
      coupons.map((c) => c.enterpriseId),
      coupons.map((c) => c.face),
      coupons.map((c) => c.unused),
      coupons.map((c) => new Date(c.from)),
      coupons.map((c) => new Date(c.until)),
      coupons.map((c) => c.products.join(',')),
    ],
  );
  const holdings = all.flatMap((ep) => ep.holdings.map((h) => ({ ...h, enterpriseId: ep.enterpriseId })));
  await pool.query(
    `INSERT INTO member_coupons (coupon_id, member_id, enterprise_id, allocated_cents, unused_cents)
     SELECT h.coupon, h.member, h.enterprise, h.cents, h.cents FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS h(coupon, member, enterprise, cents)`,
    [
      holdings.map((h) => h.couponId),
      holdings.map((h) => h.member),
      holdings.map((h) => h.enterpriseId),
      holdings.map((h) => h.unused),
    ],
  );
  await vacuum(pool, ['members']);
  // Every row updated a few times before the first side runs: see seedMembers in sharing.bench.ts.
  for (let pass = 0; pass < 3; pass += 1) await resetSettlement(pool, plan);
}

/**
 * Back to "nothing settled": what was drawn goes back to the packages, balances and holdings it
 * came from, and the settlement tables are emptied (not analysed: see resetCoupons in coupons.bench.ts).
 */
export async function resetSettlement(pool: pg.Pool, plan: SettlePlan): Promise<void> {
  const ids = enterpriseIds(plan);
  await pool.query(`TRUNCATE usage_records, usage_lines, usage_history`);
  await pool.query(
    `UPDATE packages SET remaining_micros = quantity_micros, consumed_micros = 0 WHERE enterprise_id = ANY($1::text[])`,
    [ids],
  );
  await pool.query(
    `UPDATE coupons SET balance_cents = balance_cents + spent_cents, spent_cents = 0 WHERE enterprise_id = ANY($1::text[])`,
    [ids],
  );
  await pool.query(
    `UPDATE member_coupons SET unused_cents = unused_cents + spent_cents, spent_cents = 0 WHERE enterprise_id = ANY($1::text[])`,
    [ids],
  );
  await vacuum(pool, ['packages', 'coupons', 'member_coupons']);
}
