import { sql, type Transaction } from 'kysely';
import type { ModelState } from './ledger-model.js';

// Packages and settlements, the part of `expectLedgerConsistent` (ledger-check.ts) the usage
// kinds added: compared with the fault-free model, and their invariants read straight from SQL.

/** How many problems of one kind a failing check shows. */
export const SHOWN = 25;

const ms = (column: string) => sql.raw(`(extract(epoch FROM ${column}) * 1000)::int8::text`);

/** Packages and settled usage records (with their lines, and per enterprise in settlement order) against the model. */
export async function checkUsageState(
  tx: Transaction<any>,
  model: ModelState,
  problems: string[],
): Promise<{ packages: number; records: number }> {
  const mismatch = (what: string, seen: unknown, wanted: unknown) => {
    if (JSON.stringify(seen) !== JSON.stringify(wanted))
      problems.push(`${what}: ${JSON.stringify(seen)}, fault-free ${JSON.stringify(wanted)}`);
  };
  const { rows: packages } = await sql<{
    package_id: string;
    enterprise_id: string;
    owner: string | null;
    product: string;
    unit: string;
    quantity: string;
    remaining: string;
    consumed: string;
    valid_from: string;
    valid_until: string;
    issued_by: string;
  }>`
    SELECT package_id, enterprise_id, owner_member_id AS owner, product, unit, quantity_micros::text AS quantity,
           remaining_micros::text AS remaining, consumed_micros::text AS consumed, ${ms('valid_from')} AS valid_from,
           ${ms('valid_until')} AS valid_until, issued_by_operation_id AS issued_by
    FROM packages`.execute(tx);
  mismatch('packages', packages.map((p) => p.package_id).sort(), [...model.packages.keys()].sort());
  for (const p of packages) {
    const wanted = model.packages.get(p.package_id);
    mismatch(
      `package ${p.package_id}`,
      [
        p.enterprise_id,
        p.owner,
        p.product,
        p.unit,
        p.quantity,
        p.remaining,
        p.consumed,
        p.valid_from,
        p.valid_until,
        p.issued_by,
      ],
      wanted && [
        wanted.enterpriseId,
        wanted.owner,
        wanted.product,
        wanted.unit,
        String(wanted.quantityMicros),
        String(wanted.remainingMicros),
        String(wanted.consumedMicros),
        String(wanted.validFrom),
        String(wanted.validUntil),
        wanted.issuedBy,
      ],
    );
  }

  const { rows: records } = await sql<{
    key: string;
    enterprise_id: string;
    record_id: string;
    fields: string[];
    lines: [string, string | null, string | null, string | null][];
  }>`
    SELECT r.enterprise_id || ' ' || r.record_id AS key, r.enterprise_id, r.record_id,
           ARRAY[r.member_id, r.product, r.quantity_micros::text, r.amount_cents::text, ${ms('r.used_at')},
                 r.covered_micros::text, r.uncovered_micros::text, r.priced_cents::text, r.coupon_cents::text,
                 r.payg_cents::text, r.operation_id] AS fields,
           coalesce((SELECT json_agg(json_build_array(l.source, l.benefit_id, l.quantity_micros::text, l.amount_cents::text)
                                     ORDER BY l.line_no)
                     FROM usage_lines l WHERE l.enterprise_id = r.enterprise_id AND l.record_id = r.record_id), '[]') AS lines
    FROM usage_records r ORDER BY r.enterprise_id, r.settled_seq`.execute(tx);
  mismatch('usage records', records.length, model.records.size);
  const order = new Map<string, { seen: string[]; wanted: string[] }>();
  const orderOf = (enterpriseId: string) => {
    let entry = order.get(enterpriseId);
    if (!entry) order.set(enterpriseId, (entry = { seen: [], wanted: [] }));
    return entry;
  };
  for (const r of records) {
    orderOf(r.enterprise_id).seen.push(r.record_id);
    const wanted = model.records.get(r.key);
    if (!wanted) {
      problems.push(`usage record ${r.key}: settled, not in a fault-free run`);
      continue;
    }
    mismatch(`usage record ${r.key}`, r.fields, [
      wanted.memberId,
      wanted.product,
      String(wanted.quantityMicros),
      String(wanted.amountCents),
      String(wanted.usedAt),
      String(wanted.coveredMicros),
      String(wanted.uncoveredMicros),
      String(wanted.pricedCents),
      String(wanted.couponCents),
      String(wanted.paygCents),
      wanted.settledBy,
    ]);
    mismatch(
      `usage record ${r.key} lines`,
      r.lines,
      wanted.lines.map((l) => [
        l.source,
        l.benefitId,
        l.quantityMicros === null ? null : String(l.quantityMicros),
        l.amountCents === null ? null : String(l.amountCents),
      ]),
    );
  }
  for (const record of model.records.values()) orderOf(record.enterpriseId).wanted.push(record.recordId);
  // Records of an enterprise settle one after another in publication order (settled_seq).
  for (const [enterpriseId, { seen, wanted }] of order) {
    const at = seen.findIndex((id, i) => id !== wanted[i]);
    if (at >= 0 || seen.length !== wanted.length)
      problems.push(
        `usage records of ${enterpriseId} settled in another order from #${at}: ${seen.slice(at, at + 3).join(',')}…, ` +
          `fault-free ${wanted.slice(at, at + 3).join(',')}…`,
      );
  }
  return { packages: packages.length, records: records.length };
}

const SOURCE_RANK = sql`array_position(ARRAY['own_package', 'master_package', 'member_coupon', 'master_coupon', 'payg'], l.source)`;

/**
 * The ledger's invariants read straight from SQL, whatever the model says: every package, coupon,
 * holding, settled record and line, each violation a problem of its own.
 */
export async function checkUsageLedger(tx: Transaction<any>, problems: string[]): Promise<void> {
  const violations = async (what: string, query: ReturnType<typeof sql<Record<string, unknown>>>) => {
    const { rows } = await query.execute(tx);
    for (const row of rows) problems.push(`${what}: ${JSON.stringify(row)}`);
  };
  await violations(
    'package: quantity ≠ remaining + consumed ≠ remaining + Σ lines',
    sql`
    SELECT p.package_id, p.quantity_micros::text AS quantity, p.remaining_micros::text AS remaining,
           p.consumed_micros::text AS consumed, coalesce(d.drawn, 0)::text AS lines
    FROM packages p
    LEFT JOIN (SELECT benefit_id, sum(quantity_micros) AS drawn FROM usage_lines
               WHERE source IN ('own_package', 'master_package') GROUP BY 1) d ON d.benefit_id = p.package_id
    WHERE p.remaining_micros < 0 OR p.quantity_micros <> p.remaining_micros + p.consumed_micros
       OR p.consumed_micros <> coalesce(d.drawn, 0)
    LIMIT ${SHOWN}`,
  );
  await violations(
    'coupon: face ≠ balance + Σ unused + Σ spent, or spent ≠ Σ lines',
    sql`
    WITH held AS (SELECT coupon_id, sum(unused_cents) AS unused, sum(spent_cents) AS spent FROM member_coupons GROUP BY 1),
         drawn AS (SELECT benefit_id AS coupon_id,
                          sum(amount_cents) FILTER (WHERE source = 'member_coupon') AS by_members,
                          sum(amount_cents) FILTER (WHERE source = 'master_coupon') AS from_balance
                   FROM usage_lines WHERE source IN ('member_coupon', 'master_coupon') GROUP BY 1)
    SELECT c.coupon_id, c.face_value_cents::text AS face, c.balance_cents::text AS balance,
           coalesce(held.unused, 0)::text AS unused, coalesce(held.spent, 0)::text AS members_spent,
           c.spent_cents::text AS spent_from_balance, coalesce(drawn.by_members, 0)::text AS member_lines,
           coalesce(drawn.from_balance, 0)::text AS master_lines
    FROM coupons c LEFT JOIN held USING (coupon_id) LEFT JOIN drawn USING (coupon_id)
    WHERE c.balance_cents < 0
       OR c.face_value_cents <> c.balance_cents + coalesce(held.unused, 0) + coalesce(held.spent, 0) + c.spent_cents
       OR coalesce(drawn.by_members, 0) <> coalesce(held.spent, 0) OR coalesce(drawn.from_balance, 0) <> c.spent_cents
    LIMIT ${SHOWN}`,
  );
  await violations(
    'holding: spent ≠ Σ its lines, or unused < 0',
    sql`
    SELECT mc.coupon_id, mc.member_id, mc.unused_cents::text AS unused, mc.spent_cents::text AS spent,
           coalesce(d.n, 0)::text AS lines
    FROM member_coupons mc
    LEFT JOIN (SELECT benefit_id, member_id, sum(amount_cents) AS n FROM usage_lines WHERE source = 'member_coupon'
               GROUP BY 1, 2) d ON d.benefit_id = mc.coupon_id AND d.member_id = mc.member_id
    WHERE mc.unused_cents < 0 OR mc.spent_cents <> coalesce(d.n, 0)
    LIMIT ${SHOWN}`,
  );
  await violations(
    'record: quantity ≠ Σ package lines + uncovered, priced ≠ Σ coupon lines + payg, or not priced half-up',
    sql`
    WITH l AS (SELECT enterprise_id, record_id,
                      sum(quantity_micros) FILTER (WHERE source IN ('own_package', 'master_package')) AS packages,
                      sum(amount_cents) FILTER (WHERE source IN ('member_coupon', 'master_coupon')) AS coupons,
                      sum(amount_cents) FILTER (WHERE source = 'payg') AS payg,
                      count(*) FILTER (WHERE source = 'payg') AS payg_lines, count(*) AS n, max(line_no) AS last
               FROM usage_lines GROUP BY 1, 2)
    SELECT r.enterprise_id, r.record_id, r.quantity_micros::text AS quantity, r.covered_micros::text AS covered,
           r.uncovered_micros::text AS uncovered, r.amount_cents::text AS amount, r.priced_cents::text AS priced,
           r.coupon_cents::text AS coupon, r.payg_cents::text AS payg, coalesce(l.packages, 0)::text AS package_lines,
           coalesce(l.coupons, 0)::text AS coupon_lines, coalesce(l.payg, 0)::text AS payg_line,
           coalesce(l.n, 0) AS lines, l.last
    FROM usage_records r LEFT JOIN l USING (enterprise_id, record_id)
    WHERE r.quantity_micros <> coalesce(l.packages, 0) + r.uncovered_micros OR r.covered_micros <> coalesce(l.packages, 0)
       OR r.priced_cents <> coalesce(l.coupons, 0) + r.payg_cents OR r.coupon_cents <> coalesce(l.coupons, 0)
       OR r.payg_cents <> coalesce(l.payg, 0) OR coalesce(l.payg_lines, 0) > 1 OR r.priced_cents > r.amount_cents
       OR r.priced_cents <> div(2::numeric * r.amount_cents * r.uncovered_micros + r.quantity_micros,
                                2::numeric * r.quantity_micros)
       OR coalesce(l.n, 0) <> coalesce(l.last, 0)
    LIMIT ${SHOWN}`,
  );
  await violations(
    'line: not its record’s, out of order, or drawing on what it may not',
    sql`
    SELECT l.enterprise_id, l.record_id, l.line_no, l.source, l.benefit_id
    FROM usage_lines l
    LEFT JOIN usage_records r USING (enterprise_id, record_id)
    LEFT JOIN packages p ON p.package_id = l.benefit_id AND l.source IN ('own_package', 'master_package')
    LEFT JOIN coupons c ON c.coupon_id = l.benefit_id AND l.source IN ('member_coupon', 'master_coupon')
    LEFT JOIN member_coupons mc ON mc.coupon_id = l.benefit_id AND mc.member_id = l.member_id AND l.source = 'member_coupon'
    WHERE r.record_id IS NULL OR l.member_id <> r.member_id OR l.used_at <> r.used_at OR l.settled_seq <> r.settled_seq
       OR EXISTS (SELECT FROM usage_lines k WHERE k.enterprise_id = l.enterprise_id AND k.record_id = l.record_id
                    AND k.line_no < l.line_no
                    AND array_position(ARRAY['own_package', 'master_package', 'member_coupon', 'master_coupon', 'payg'], k.source)
                        > ${SOURCE_RANK})
       OR (l.source IN ('own_package', 'master_package') AND (
             p.package_id IS NULL OR p.enterprise_id <> l.enterprise_id OR p.product <> r.product
             OR p.owner_member_id IS DISTINCT FROM (CASE WHEN l.source = 'own_package' THEN l.member_id END)
             OR NOT (p.valid_from <= l.used_at AND l.used_at < p.valid_until)
             OR l.quantity_micros IS NULL OR l.amount_cents IS NOT NULL))
       OR (l.source IN ('member_coupon', 'master_coupon') AND (
             c.coupon_id IS NULL OR c.enterprise_id <> l.enterprise_id OR NOT (r.product = ANY(c.products))
             OR NOT (c.valid_from <= l.used_at AND l.used_at < c.valid_until)
             OR (l.source = 'member_coupon' AND mc.coupon_id IS NULL)
             OR l.amount_cents IS NULL OR l.quantity_micros IS NOT NULL))
       OR (l.source = 'payg' AND (l.benefit_id IS NOT NULL OR l.amount_cents IS NULL OR l.quantity_micros IS NOT NULL))
    LIMIT ${SHOWN}`,
  );
  await violations(
    'usage history: a record not settled exactly once by the operation that holds it',
    sql`
    SELECT coalesce(r.enterprise_id, h.enterprise_id) AS enterprise_id, coalesce(r.record_id, h.record_id) AS record_id,
           r.operation_id, count(h.id) FILTER (WHERE h.outcome = 'applied') AS applied,
           count(h.id) FILTER (WHERE h.outcome = 'applied' AND h.operation_id = r.operation_id) AS by_its_operation,
           count(h.id) FILTER (WHERE h.member_id <> r.member_id OR h.outcome NOT IN ('applied', 'unchanged')) AS odd
    FROM usage_records r FULL JOIN usage_history h ON h.enterprise_id = r.enterprise_id AND h.record_id = r.record_id
    GROUP BY 1, 2, 3
    HAVING r.operation_id IS NULL OR count(h.id) FILTER (WHERE h.outcome = 'applied') <> 1
        OR count(h.id) FILTER (WHERE h.outcome = 'applied' AND h.operation_id = r.operation_id) <> 1
        OR count(h.id) FILTER (WHERE h.member_id <> r.member_id OR h.outcome NOT IN ('applied', 'unchanged')) > 0
    LIMIT ${SHOWN}`,
  );
  await violations(
    'sharing history: arrears risk on a row that does not disable',
    sql`
    SELECT operation_id, member_id, action, outcome FROM sharing_history
    WHERE arrears_risk AND NOT (action = 'disable' AND outcome = 'applied')
    LIMIT ${SHOWN}`,
  );
}
