import { sql } from 'kysely';
import { recordsTable } from '../../db/records.js';
import { namedStatement, type NamedQuery } from '../../db/statements.js';
import type { CouponPot, PackagePot, SettledRecord, SettlementDecision } from './settlement.rules.js';
import type { HistoryScope } from '../kind.js';

/** What a chunk's records may draw on: its members, products and the span of their `usedAt`. */
export interface DrawScope {
  enterpriseId: string;
  memberIds: readonly string[];
  products: readonly string[];
  firstUsedAt: Date;
  lastUsedAt: Date;
}

type SettledRow = {
  record_id: string;
  member_id: string | null;
  product: string | null;
  quantity_micros: number | null;
  amount_cents: number | null;
  used_at: Date | null;
  seen: boolean;
};

/**
 * The chunk's records already settled in the enterprise (by any operation), and those this
 * operation already accounted for in another chunk (`seen`). One unique-index probe per record in
 * each table, as LATERAL subqueries that cannot be pulled up (LIMIT), as in `members.sql.ts`: as
 * joins, a generic plan made while the tables were small read every record of the enterprise, or
 * every history row of the operation, on every chunk: `npm run bench -- --only settle` read 20
 * million index entries to settle 200,000 records, none of them settled before.
 */
export const settledRecords = namedStatement(
  'settled_records',
  ({ operationId, month }: HistoryScope, enterpriseId: string, recordIds: readonly string[]) => sql<SettledRow>`
    SELECT i.record_id, r.member_id, r.product, r.quantity_micros, r.amount_cents, r.used_at, h.seen IS NOT NULL AS seen
    FROM unnest(${recordIds}::text[]) AS i(record_id)
    LEFT JOIN LATERAL (SELECT r.member_id, r.product, r.quantity_micros, r.amount_cents, r.used_at FROM usage_records r
                       WHERE r.enterprise_id = ${enterpriseId}::text AND r.record_id = i.record_id
                       LIMIT 1) r ON true
    LEFT JOIN LATERAL (SELECT true AS seen FROM usage_history h
                       WHERE h.operation_id = ${operationId}::text AND h.record_id = i.record_id
                         AND h.operation_month = ${month}::date
                       LIMIT 1) h ON true
    WHERE r.member_id IS NOT NULL OR h.seen`,
);

export function toSettled(rows: readonly SettledRow[]): { settled: Map<string, SettledRecord>; seen: Set<string> } {
  const settled = new Map<string, SettledRecord>();
  const seen = new Set<string>();
  for (const r of rows) {
    if (r.seen) seen.add(r.record_id);
    if (r.member_id !== null)
      settled.set(r.record_id, {
        memberId: r.member_id,
        product: r.product!,
        quantityMicros: r.quantity_micros!,
        amountCents: r.amount_cents!,
        usedAt: new Date(r.used_at!),
      });
  }
  return { settled, seen };
}

/** The named members associated with the enterprise, with their sharing switch. */
export const settlingMembers = namedStatement(
  'settling_members',
  (enterpriseId: string, memberIds: readonly string[]) => sql<{ member_id: string; sharing_enabled: boolean }>`
    SELECT member_id, sharing_enabled FROM members
    WHERE member_id = ANY(${memberIds}::text[]) AND enterprise_id = ${enterpriseId}::text`,
);

type PackagePotRow = {
  package_id: string;
  owner_member_id: string | null;
  product: string;
  valid_from: Date;
  valid_until: Date;
  issued_seq: number;
  remaining_micros: number;
};

const packagePots = (scope: DrawScope, lock: boolean) => sql<PackagePotRow>`
  SELECT package_id, owner_member_id, product, valid_from, valid_until, issued_seq, remaining_micros
  FROM packages
  WHERE enterprise_id = ${scope.enterpriseId}::text AND product = ANY(${scope.products}::text[])
    AND (owner_member_id IS NULL OR owner_member_id = ANY(${scope.memberIds}::text[]))
    AND remaining_micros > 0
    AND valid_from <= ${scope.lastUsedAt}::timestamptz AND valid_until > ${scope.firstUsedAt}::timestamptz
  ${lock ? sql`ORDER BY package_id FOR UPDATE` : sql``}`;

/**
 * The packages the chunk's records may draw on: their members' own and the master's, for their
 * products, not used up, valid at some time the chunk spans. Read without locks: the writes are
 * guarded by what was read (`writeSettlements`), and a chunk whose packages moved meanwhile runs
 * again with `lockPackagePots`.
 */
export const readPackagePots = namedStatement('read_package_pots', (scope: DrawScope) => packagePots(scope, false));
export const lockPackagePots = namedStatement('lock_package_pots', (scope: DrawScope) => packagePots(scope, true));

export const toPackagePots = (rows: readonly PackagePotRow[]): PackagePot[] =>
  rows.map((r) => ({
    packageId: r.package_id,
    ownerMemberId: r.owner_member_id,
    product: r.product,
    validFrom: new Date(r.valid_from),
    validUntil: new Date(r.valid_until),
    issuedSeq: r.issued_seq,
    remainingMicros: r.remaining_micros,
  }));

const applicableCoupons = (scope: DrawScope) => sql`
  c.enterprise_id = ${scope.enterpriseId}::text AND c.products && ${scope.products}::text[]
  AND c.valid_from <= ${scope.lastUsedAt}::timestamptz AND c.valid_until > ${scope.firstUsedAt}::timestamptz`;

/**
 * Takes the locks every ledger writer takes first, for the fallback: the enterprise's coupons the
 * chunk may pay from, in a fixed order, before their balances and holdings are read.
 */
export const lockCouponPots = namedStatement(
  'lock_coupon_pots',
  (scope: DrawScope) => sql<{ coupon_id: string }>`
    SELECT c.coupon_id FROM coupons c WHERE ${applicableCoupons(scope)} ORDER BY c.coupon_id FOR UPDATE`,
);

type CouponPotRow = {
  coupon_id: string;
  member_id: string | null;
  products: string[];
  valid_from: Date;
  valid_until: Date;
  issued_seq: number;
  unused_cents: number;
};

/**
 * The money the chunk's records may be paid from: the members' unused allocations and the master's
 * balances. The members' holdings are found first, by member (a hundred index probes), then their
 * coupons by key: joined the other way round, as a generic plan chose, every applicable coupon
 * probed the holdings' key for each of the chunk's members (thousands of probes per chunk).
 */
export const readCouponPots = namedStatement(
  'read_coupon_pots',
  (scope: DrawScope) => sql<CouponPotRow>`
    WITH held AS MATERIALIZED (
      SELECT coupon_id, member_id, unused_cents FROM member_coupons
      WHERE member_id = ANY(${scope.memberIds}::text[]) AND enterprise_id = ${scope.enterpriseId}::text AND unused_cents > 0
    )
    SELECT c.coupon_id, mc.member_id, c.products, c.valid_from, c.valid_until, c.issued_seq, mc.unused_cents
    FROM held mc JOIN coupons c ON c.coupon_id = mc.coupon_id
    WHERE ${applicableCoupons(scope)}
    UNION ALL
    SELECT c.coupon_id, NULL, c.products, c.valid_from, c.valid_until, c.issued_seq, c.balance_cents
    FROM coupons c
    WHERE c.balance_cents > 0 AND ${applicableCoupons(scope)}`,
);

export const toCouponPots = (rows: readonly CouponPotRow[]): CouponPot[] =>
  rows.map((r) => ({
    couponId: r.coupon_id,
    memberId: r.member_id,
    products: r.products,
    validFrom: new Date(r.valid_from),
    validUntil: new Date(r.valid_until),
    issuedSeq: r.issued_seq,
    unusedCents: r.unused_cents,
  }));

interface SettleScope extends HistoryScope {
  enterpriseId: string;
}

const writeSettlementsStatement = namedStatement(
  'write_settlements',
  (
    scope: SettleScope,
    draws: {
      packages: readonly { package_id: string; read: number; remaining: number }[];
      masterCoupons: readonly { coupon_id: string; read: number; unused: number }[];
      memberCoupons: readonly { coupon_id: string; member_id: string; read: number; unused: number }[];
    },
    records: readonly {
      record_id: string;
      member_id: string;
      product: string;
      quantity: number;
      amount: number;
      used_at: Date;
      covered: number;
      uncovered: number;
      priced: number;
      coupon: number;
      payg: number;
    }[],
    lines: readonly {
      record_id: string;
      line_no: number;
      member_id: string;
      source: string;
      benefit_id: string | null;
      quantity: number | null;
      amount: number | null;
      used_at: Date;
    }[],
    history: readonly { record_id: string; member_id: string; outcome: string }[],
  ) => sql<never>`
    WITH packages_drawn AS (
      UPDATE packages p SET remaining_micros = v.remaining,
                            consumed_micros = p.consumed_micros + (v.read - v.remaining), updated_at = now()
      FROM ${recordsTable(draws.packages, { package_id: 'text', read: 'int8', remaining: 'int8' }, 'v')}
      WHERE p.package_id = v.package_id AND p.remaining_micros = v.read
      RETURNING 1
    ),
    balances_drawn AS (
      UPDATE coupons c SET balance_cents = v.unused, spent_cents = c.spent_cents + (v.read - v.unused), updated_at = now()
      FROM ${recordsTable(draws.masterCoupons, { coupon_id: 'text', read: 'int8', unused: 'int8' }, 'v')}
      WHERE c.coupon_id = v.coupon_id AND c.balance_cents = v.read
      RETURNING 1
    ),
    holdings_drawn AS (
      UPDATE member_coupons mc SET unused_cents = v.unused, spent_cents = mc.spent_cents + (v.read - v.unused),
                                   updated_at = now()
      FROM ${recordsTable(draws.memberCoupons, { coupon_id: 'text', member_id: 'text', read: 'int8', unused: 'int8' }, 'v')}
      WHERE mc.coupon_id = v.coupon_id AND mc.member_id = v.member_id AND mc.unused_cents = v.read
      RETURNING 1
    ),
    settled AS (
      INSERT INTO usage_records (enterprise_id, record_id, member_id, product, quantity_micros, amount_cents, used_at,
                                 covered_micros, uncovered_micros, priced_cents, coupon_cents, payg_cents, operation_id)
      SELECT ${scope.enterpriseId}::text, r.record_id, r.member_id, r.product, r.quantity, r.amount, r.used_at,
             r.covered, r.uncovered, r.priced, r.coupon, r.payg, ${scope.operationId}::text
      FROM ${recordsTable(
        records,
        {
          record_id: 'text',
          member_id: 'text',
          product: 'text',
          quantity: 'int8',
          amount: 'int8',
          used_at: 'timestamptz',
          covered: 'int8',
          uncovered: 'int8',
          priced: 'int8',
          coupon: 'int8',
          payg: 'int8',
        },
        'r',
        'n',
      )}
      ORDER BY r.n
      RETURNING record_id, settled_seq
    ),
    lines AS (
      INSERT INTO usage_lines (enterprise_id, record_id, line_no, member_id, source, benefit_id, quantity_micros,
                               amount_cents, used_at, settled_seq)
      SELECT ${scope.enterpriseId}::text, l.record_id, l.line_no, l.member_id, l.source, l.benefit_id, l.quantity,
             l.amount, l.used_at, s.settled_seq
      FROM ${recordsTable(
        lines,
        {
          record_id: 'text',
          line_no: 'int4',
          member_id: 'text',
          source: 'text',
          benefit_id: 'text',
          quantity: 'int8',
          amount: 'int8',
          used_at: 'timestamptz',
        },
        'l',
      )}
      JOIN settled s USING (record_id)
    ),
    history AS (
      INSERT INTO usage_history (operation_id, operation_month, enterprise_id, record_id, member_id, outcome)
      SELECT ${scope.operationId}::text, ${scope.month}::date, ${scope.enterpriseId}::text, h.record_id, h.member_id, h.outcome
      FROM ${recordsTable(history, { record_id: 'text', member_id: 'text', outcome: 'text' }, 'h')}
    )
    SELECT chunk_guard((SELECT count(*) FROM packages_drawn) = ${draws.packages.length}::int8
                       AND (SELECT count(*) FROM balances_drawn) = ${draws.masterCoupons.length}::int8
                       AND (SELECT count(*) FROM holdings_drawn) = ${draws.memberCoupons.length}::int8,
                       'a package or coupon changed after the chunk read it')`,
);

/**
 * Writes what a settlement chunk decided in one statement: every package and coupon drawn on
 * (each only if it still holds what was read, else `chunk_guard` aborts and the chunk runs again
 * under locks), one settlement row per settled record with its lines, and one history row per
 * settled or unchanged record. The records are numbered in batch order (`settled_seq`).
 */
export function writeSettlements(scope: SettleScope, decision: SettlementDecision): NamedQuery<never>[] {
  const { settlements, unchanged } = decision;
  if (settlements.length === 0 && unchanged.length === 0) return [];
  const coupons = [...decision.coupons.values()];
  const history = [
    ...settlements.map((s) => ({
      position: s.position,
      record_id: s.recordId,
      member_id: s.memberId,
      outcome: 'applied',
    })),
    ...unchanged.map((u) => ({
      position: u.position,
      record_id: u.recordId,
      member_id: u.memberId,
      outcome: 'unchanged',
    })),
  ].sort((a, b) => a.position - b.position);
  return [
    writeSettlementsStatement(
      scope,
      {
        packages: [...decision.packages].map(([package_id, d]) => ({
          package_id,
          read: d.read,
          remaining: d.remaining,
        })),
        masterCoupons: coupons
          .filter((c) => c.pot.memberId === null)
          .map((c) => ({ coupon_id: c.pot.couponId, read: c.read, unused: c.unused })),
        memberCoupons: coupons.flatMap((c) =>
          c.pot.memberId === null
            ? []
            : [{ coupon_id: c.pot.couponId, member_id: c.pot.memberId, read: c.read, unused: c.unused }],
        ),
      },
      settlements.map((s) => ({
        record_id: s.recordId,
        member_id: s.memberId,
        product: s.product,
        quantity: s.quantityMicros,
        amount: s.amountCents,
        used_at: s.usedAt,
        covered: s.coveredMicros,
        uncovered: s.uncoveredMicros,
        priced: s.pricedCents,
        coupon: s.couponCents,
        payg: s.paygCents,
      })),
      settlements.flatMap((s) =>
        s.lines.map((l, i) => ({
          record_id: s.recordId,
          line_no: i + 1,
          member_id: s.memberId,
          source: l.source,
          benefit_id: l.benefitId,
          quantity: l.quantityMicros,
          amount: l.amountCents,
          used_at: s.usedAt,
        })),
      ),
      history.map(({ record_id, member_id, outcome }) => ({ record_id, member_id, outcome })),
    ),
  ];
}
