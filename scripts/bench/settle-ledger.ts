import type pg from 'pg';
import { expectEqual } from './scenario.js';
import type { DryRun, SettleTotals } from './settle-plan.js';

/**
 * The ledger after one side of the settlement bench: what it must come to (the dry run of the
 * bench's own rules), every invariant of issue 20 row by row, and a digest of the end state that
 * every side of every round must reproduce exactly.
 */

const VIOLATIONS = `
  SELECT
    (SELECT count(*) FROM packages p
     WHERE p.enterprise_id = ANY($1::text[])
       AND (p.quantity_micros <> p.remaining_micros + p.consumed_micros OR p.remaining_micros < 0
            OR p.consumed_micros <> coalesce((SELECT sum(l.quantity_micros) FROM usage_lines l
                                              WHERE l.benefit_id = p.package_id AND l.source IN ('own_package', 'master_package')), 0)))
      AS packages,
    (SELECT count(*) FROM coupons c
     WHERE c.enterprise_id = ANY($1::text[])
       AND (c.face_value_cents <> c.balance_cents + c.spent_cents
                                  + coalesce((SELECT sum(mc.unused_cents + mc.spent_cents) FROM member_coupons mc
                                              WHERE mc.coupon_id = c.coupon_id), 0)
            OR c.spent_cents <> coalesce((SELECT sum(l.amount_cents) FROM usage_lines l
                                          WHERE l.benefit_id = c.coupon_id AND l.source = 'master_coupon'), 0)))
      AS coupons,
    (SELECT count(*) FROM member_coupons mc
     WHERE mc.enterprise_id = ANY($1::text[])
       AND (mc.allocated_cents <> mc.unused_cents + mc.spent_cents + mc.revoked_cents OR mc.unused_cents < 0
            OR mc.spent_cents <> coalesce((SELECT sum(l.amount_cents) FROM usage_lines l
                                           WHERE l.benefit_id = mc.coupon_id AND l.member_id = mc.member_id
                                             AND l.source = 'member_coupon'), 0)))
      AS holdings,
    (SELECT count(*) FROM usage_records r
     CROSS JOIN LATERAL (
       SELECT sum(l.quantity_micros) FILTER (WHERE l.source IN ('own_package', 'master_package')) AS covered,
              sum(l.amount_cents) FILTER (WHERE l.source IN ('member_coupon', 'master_coupon')) AS coupon,
              sum(l.amount_cents) FILTER (WHERE l.source = 'payg') AS payg,
              count(*) FILTER (WHERE l.settled_seq <> r.settled_seq OR l.member_id <> r.member_id OR l.used_at <> r.used_at) AS astray,
              count(*) AS lines, max(l.line_no) AS last
       FROM usage_lines l WHERE l.enterprise_id = r.enterprise_id AND l.record_id = r.record_id) l
     WHERE r.quantity_micros <> r.covered_micros + r.uncovered_micros OR r.covered_micros <> coalesce(l.covered, 0)
        OR r.priced_cents <> r.coupon_cents + r.payg_cents OR r.coupon_cents <> coalesce(l.coupon, 0)
        OR r.payg_cents <> coalesce(l.payg, 0)
        OR r.priced_cents <> (2 * r.amount_cents * r.uncovered_micros + r.quantity_micros) / (2 * r.quantity_micros)
        OR l.astray > 0 OR l.lines = 0 OR l.last <> l.lines)
      AS records,
    (SELECT count(*) FROM usage_lines l
     WHERE NOT EXISTS (SELECT 1 FROM usage_records r WHERE r.enterprise_id = l.enterprise_id AND r.record_id = l.record_id))
      AS orphan_lines`;

const TOTALS = `
  SELECT (SELECT count(*) FROM usage_records) AS records,
         (SELECT count(*) FROM usage_records WHERE operation_id LIKE $1) AS by_side,
         (SELECT count(*) FROM usage_history WHERE operation_id LIKE $1 AND outcome = 'applied') AS history,
         (SELECT count(*) FROM usage_lines) AS lines,
         (SELECT coalesce(sum(covered_micros), 0)::int8 FROM usage_records) AS covered,
         (SELECT coalesce(sum(priced_cents), 0)::int8 FROM usage_records) AS priced,
         (SELECT coalesce(sum(coupon_cents), 0)::int8 FROM usage_records) AS coupon,
         (SELECT coalesce(sum(payg_cents), 0)::int8 FROM usage_records) AS payg`;

/**
 * The end state, less what legitimately differs between sides (operation ids, identity values,
 * timestamps of the write): settlement order enters as each record's rank in its enterprise.
 */
const DIGEST = `
  SELECT
    (SELECT md5(string_agg(concat_ws(',', package_id, remaining_micros, consumed_micros), ';' ORDER BY package_id))
     FROM packages WHERE enterprise_id = ANY($1::text[])) AS packages,
    (SELECT md5(string_agg(concat_ws(',', coupon_id, balance_cents, spent_cents), ';' ORDER BY coupon_id))
     FROM coupons WHERE enterprise_id = ANY($1::text[])) AS coupons,
    (SELECT md5(string_agg(concat_ws(',', coupon_id, member_id, unused_cents, spent_cents), ';' ORDER BY coupon_id, member_id))
     FROM member_coupons WHERE enterprise_id = ANY($1::text[])) AS holdings,
    (SELECT md5(string_agg(concat_ws(',', enterprise_id, record_id, member_id, product, quantity_micros, amount_cents,
                                     extract(epoch FROM used_at), covered_micros, uncovered_micros, priced_cents,
                                     coupon_cents, payg_cents, rank), ';' ORDER BY enterprise_id, record_id))
     FROM (SELECT *, row_number() OVER (PARTITION BY enterprise_id ORDER BY settled_seq) AS rank FROM usage_records) r)
      AS records,
    (SELECT md5(string_agg(concat_ws(',', enterprise_id, record_id, line_no, member_id, source, coalesce(benefit_id, '-'),
                                     coalesce(quantity_micros, -1), coalesce(amount_cents, -1), extract(epoch FROM used_at)),
                           ';' ORDER BY enterprise_id, record_id, line_no))
     FROM usage_lines) AS lines`;

/**
 * Checks the ledger `label`'s side left (its operations' ids start with `operationPrefix`) and
 * returns its digest. Throws, as every bench check does, rather than report a rate for wrong work.
 */
export async function checkSettlementLedger(
  pool: pg.Pool,
  enterpriseIds: readonly string[],
  expected: DryRun,
  operationPrefix: string,
  label: string,
): Promise<string> {
  // Full now, empty (and of unknown size) again after the next reset: every side meets the same statistics.
  await pool.query('ANALYZE usage_records, usage_lines');
  const totals = (
    await pool.query<SettleTotals & { by_side: number; history: number }>(TOTALS, [`${operationPrefix}%`])
  ).rows[0]!;
  for (const key of Object.keys(expected.totals) as (keyof SettleTotals)[])
    expectEqual(`${label}: ${key} (as the bench's own rules settle them)`, totals[key], expected.totals[key]);
  expectEqual(`${label}: records settled by its own operations`, totals.by_side, expected.totals.records);
  expectEqual(`${label}: applied history rows`, totals.history, expected.totals.records);
  const violations = (await pool.query<Record<string, number>>(VIOLATIONS, [enterpriseIds])).rows[0]!;
  for (const [what, count] of Object.entries(violations))
    expectEqual(`${label}: ${what} breaking a ledger invariant`, count, 0);
  const digest = (await pool.query<Record<string, string>>(DIGEST, [enterpriseIds])).rows[0]!;
  return Object.values(digest).join('/');
}
