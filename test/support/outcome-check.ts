import { sql, type Transaction } from 'kysely';
import type { ModelHistory, ModelOutcome, ModelState } from './ledger-model.js';

/**
 * Every item's outcome against the fault-free run in publication order: each rejection at its
 * position with its reason, each applied or unchanged item with its history row as that run
 * writes it (sharing states before and after and the arrears flag; amounts and balances after; a
 * package's outcome; a usage record's member and the operation that settled it, this one when
 * applied, the first one when unchanged). Appends what differs to `problems`.
 */
export async function checkOutcomes(
  tx: Transaction<any>,
  operationIds: readonly string[],
  model: ModelState,
  problems: string[],
): Promise<void> {
  const ids = [...operationIds];
  const { rows: rejections } = await sql<{ operation_id: string; position: number; reason: string }>`
    SELECT operation_id, position, reason FROM operation_rejections WHERE operation_id = ANY(${ids})`.execute(tx);
  const rejected = new Map(rejections.map((r) => [`${r.operation_id}#${r.position}`, r.reason]));

  const { rows: sharing } = await sql<{
    operation_id: string;
    member_id: string;
    action: string;
    sharing_before: boolean | null;
    sharing_after: boolean | null;
    outcome: string;
    arrears_risk: boolean;
  }>`
    SELECT operation_id, member_id, action, sharing_before, sharing_after, outcome, arrears_risk
    FROM sharing_history WHERE operation_id = ANY(${ids})`.execute(tx);
  const sharingRows = new Map(sharing.map((r) => [`${r.operation_id} ${r.member_id}`, r]));

  const { rows: coupons } = await sql<{
    operation_id: string;
    coupon_id: string;
    member_id: string | null;
    action: string;
    outcome: string;
    amount: number;
    coupon_after: number;
    member_after: number | null;
  }>`
    SELECT operation_id, coupon_id, member_id, action, outcome, amount_cents::int8 AS amount,
           coupon_balance_after_cents::int8 AS coupon_after, member_balance_after_cents::int8 AS member_after
    FROM coupon_history WHERE operation_id = ANY(${ids})`.execute(tx);
  const couponRows = new Map(coupons.map((r) => [`${r.operation_id} ${r.coupon_id} ${r.member_id ?? ''}`, r]));

  const { rows: packages } = await sql<{ operation_id: string; package_id: string; outcome: string }>`
    SELECT operation_id, package_id, outcome FROM package_history WHERE operation_id = ANY(${ids})`.execute(tx);
  const packageRows = new Map(packages.map((r) => [`${r.operation_id} ${r.package_id}`, r]));

  const { rows: usage } = await sql<{
    operation_id: string;
    record_id: string;
    member_id: string;
    outcome: string;
    settled_by: string | null;
  }>`
    SELECT h.operation_id, h.record_id, h.member_id, h.outcome, r.operation_id AS settled_by
    FROM usage_history h
    LEFT JOIN usage_records r ON r.enterprise_id = h.enterprise_id AND r.record_id = h.record_id
    WHERE h.operation_id = ANY(${ids})`.execute(tx);
  const usageRows = new Map(usage.map((r) => [`${r.operation_id} ${r.record_id}`, r]));

  for (const operationId of ids) {
    for (const item of model.outcomes.get(operationId) ?? []) {
      const where = `${operationId}#${item.position} ${item.key}`;
      const reason = rejected.get(`${operationId}#${item.position}`);
      if (item.outcome === 'rejected') {
        if (reason !== item.reason)
          problems.push(`${where}: ${reason ?? 'not rejected'}, in publication order ${item.reason}`);
        continue;
      }
      if (reason !== undefined) {
        problems.push(`${where}: rejected ${reason}, in publication order ${item.outcome}`);
        continue;
      }
      const seen = historyRow(item, operationId, { sharing: sharingRows, coupons: couponRows, packageRows, usageRows });
      const wanted = item.history && { outcome: item.outcome, ...withoutTable(item.history) };
      if (JSON.stringify(seen) !== JSON.stringify(wanted))
        problems.push(`${where}: history ${JSON.stringify(seen)}, in publication order ${JSON.stringify(wanted)}`);
    }
  }
}

function withoutTable(history: ModelHistory) {
  const { table: _table, ...fields } = history;
  return fields;
}

interface HistoryRows {
  sharing: Map<
    string,
    {
      action: string;
      sharing_before: boolean | null;
      sharing_after: boolean | null;
      outcome: string;
      arrears_risk: boolean;
    }
  >;
  coupons: Map<
    string,
    { action: string; outcome: string; amount: number; coupon_after: number; member_after: number | null }
  >;
  packageRows: Map<string, { outcome: string }>;
  usageRows: Map<string, { record_id: string; member_id: string; outcome: string; settled_by: string | null }>;
}

/** The item's history row as the database has it, shaped like the model's (`ModelHistory`). */
function historyRow(
  item: Extract<ModelOutcome, { outcome: 'applied' | 'unchanged' }>,
  operationId: string,
  { sharing, coupons, packageRows, usageRows }: HistoryRows,
) {
  if (item.history === null) return null;
  if (item.history.table === 'sharing') {
    const row = sharing.get(`${operationId} ${item.key}`);
    return row
      ? {
          outcome: row.outcome,
          action: row.action,
          sharingBefore: row.sharing_before,
          sharingAfter: row.sharing_after,
          arrearsRisk: row.arrears_risk,
        }
      : 'no history row';
  }
  if (item.history.table === 'package') {
    const row = packageRows.get(`${operationId} ${item.key}`);
    return row ? { outcome: row.outcome, packageId: item.key } : 'no history row';
  }
  if (item.history.table === 'usage') {
    const row = usageRows.get(`${operationId} ${item.key}`);
    return row
      ? { outcome: row.outcome, recordId: row.record_id, memberId: row.member_id, settledBy: row.settled_by }
      : 'no history row';
  }
  const member = item.history.action === 'issue' ? '' : item.key;
  const row = coupons.get(`${operationId} ${item.history.couponId} ${member}`);
  return row
    ? {
        outcome: row.outcome,
        couponId: item.history.couponId,
        action: row.action,
        amountCents: Number(row.amount),
        couponBalanceAfterCents: Number(row.coupon_after),
        memberBalanceAfterCents: row.member_after === null ? null : Number(row.member_after),
      }
    : 'no history row';
}
