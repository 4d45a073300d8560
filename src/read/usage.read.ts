import type { Kysely } from 'kysely';
import { formatCents } from '../domain/money.js';
import { formatQuantity } from '../domain/quantity.js';
import type { Database, UsageLineRow } from '../db/schema.js';
import { iso, PAGE_SIZE, type Page, pageOf } from './page.js';

/** One package or coupon a settlement drew on, or its pay-as-you-go part (`benefitId` null). */
export interface SettlementLineView {
  source: string;
  benefitId: string | null;
  /** On package lines: how much of the package it used. */
  quantity?: string;
  /** On coupon and pay-as-you-go lines: the money. */
  amount?: string;
}

/** A settled usage record with its breakdown, as the contract names it. */
export interface SettlementView {
  recordId: string;
  memberId: string;
  product: string;
  quantity: string;
  amount: string;
  usedAt: string;
  /** Only settled records are stored: a record seen again is counted `unchanged` on its operation. */
  outcome: 'applied';
  lines: SettlementLineView[];
  paygAmount: string;
  settledAt: string;
}

function lineView(row: Pick<UsageLineRow, 'source' | 'benefit_id' | 'quantity_micros' | 'amount_cents'>) {
  return {
    source: row.source,
    benefitId: row.benefit_id,
    ...(row.quantity_micros !== null && { quantity: formatQuantity(row.quantity_micros) }),
    ...(row.amount_cents !== null && { amount: formatCents(row.amount_cents) }),
  };
}

/**
 * The member's settled records in the enterprise, newest first (`settled_seq`, the settle order),
 * each with its lines: one query for the page of records, one for their lines. The cursor is the
 * `settled_seq` of the last record of the previous page. A member that left keeps its history.
 */
export async function listMemberUsage(
  db: Kysely<Database>,
  enterpriseId: string,
  memberId: string,
  beforeSeq: number | null,
): Promise<Page<SettlementView>> {
  let query = db
    .selectFrom('usage_records')
    .select([
      'record_id',
      'member_id',
      'product',
      'quantity_micros',
      'amount_cents',
      'used_at',
      'payg_cents',
      'settled_seq',
      'settled_at',
    ])
    .where('enterprise_id', '=', enterpriseId)
    .where('member_id', '=', memberId);
  if (beforeSeq !== null) query = query.where('settled_seq', '<', beforeSeq);
  const records = await query.orderBy('settled_seq', 'desc').limit(PAGE_SIZE).execute();
  const lines = new Map<string, SettlementLineView[]>();
  if (records.length > 0) {
    const rows = await db
      .selectFrom('usage_lines')
      .select(['record_id', 'source', 'benefit_id', 'quantity_micros', 'amount_cents'])
      .where('enterprise_id', '=', enterpriseId)
      .where(
        'record_id',
        'in',
        records.map((r) => r.record_id),
      )
      .orderBy('record_id')
      .orderBy('line_no')
      .execute();
    for (const row of rows) {
      const list = lines.get(row.record_id) ?? [];
      list.push(lineView(row));
      lines.set(row.record_id, list);
    }
  }
  return pageOf(
    records,
    (r) => r.settled_seq,
    (r) => ({
      recordId: r.record_id,
      memberId: r.member_id,
      product: r.product,
      quantity: formatQuantity(r.quantity_micros),
      amount: formatCents(r.amount_cents),
      usedAt: iso(r.used_at),
      outcome: 'applied',
      lines: lines.get(r.record_id) ?? [],
      paygAmount: formatCents(r.payg_cents),
      settledAt: iso(r.settled_at),
    }),
  );
}

/** Pay-as-you-go charged to the member in the enterprise, over every settled record (cents). */
export async function memberPaygCents(db: Kysely<Database>, enterpriseId: string, memberId: string): Promise<number> {
  const row = await db
    .selectFrom('usage_records')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('payg_cents'), eb.lit(0)).as('payg'))
    .where('enterprise_id', '=', enterpriseId)
    .where('member_id', '=', memberId)
    .executeTakeFirstOrThrow();
  return Number(row.payg);
}

/** Pay-as-you-go charged in the enterprise over every settled record of every member (cents). */
export async function enterprisePaygCents(db: Kysely<Database>, enterpriseId: string): Promise<number> {
  const row = await db
    .selectFrom('usage_records')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('payg_cents'), eb.lit(0)).as('payg'))
    .where('enterprise_id', '=', enterpriseId)
    .executeTakeFirstOrThrow();
  return Number(row.payg);
}
