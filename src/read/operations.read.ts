import { type Kysely, sql } from 'kysely';
import { isFinal } from '../domain/operation-status.js';
import type { Database, OperationRow } from '../db/schema.js';
import { findOperation, unfinished } from '../operations/operation-records.js';
import { findAudit, type OperationAudit } from '../auth/operation-audit.sql.js';
import { PAGE_SIZE, type Page, pageOf } from './page.js';

/** An operation as its publisher sees it: HTTP, the producer library and the completion events. */
export interface OperationView {
  operationId: string;
  kind: string;
  enterpriseId: string | null;
  status: string;
  progress: { chunksDone: number; chunksTotal: number | null; itemsDone: number; itemsTotal: number };
  counts: {
    applied: number;
    unchanged: number;
    superseded: number;
    rejected: number;
    /** `sharing.set` only: members it disabled that drew on the master's packages lately (may fall into arrears). */
    arrearsRisk?: number;
  };
  rejectedByReason: Record<string, number>;
  /**
   * Operations published earlier, still unfinished, that this one's chunks wait for (they touch
   * the same members, coupons or switch); empty when nothing is in its way.
   */
  waitingFor: string[];
  error: unknown;
  createdAt: string;
  finishedAt: string | null;
  /** The API key that published it; null when published another way or with authentication off. */
  publishedBy: string | null;
  /** The key that cancelled it, or retried it last. */
  cancelledBy: string | null;
  retriedBy: string | null;
}

export interface RejectionView {
  position: number;
  memberId?: string;
  couponId?: string;
  packageId?: string;
  recordId?: string;
  reason: string;
}

export function toOperationView(
  row: OperationRow,
  rejectedByReason: Record<string, number>,
  waitingFor: string[] = [],
  arrearsRisk?: number,
  audit: OperationAudit = { publishedBy: null, cancelledBy: null, retriedBy: null },
): OperationView {
  return {
    operationId: row.operation_id,
    kind: row.kind,
    enterpriseId: row.enterprise_id,
    status: row.status,
    progress: {
      chunksDone: row.chunks_done + row.chunks_failed,
      chunksTotal: row.chunks_total,
      itemsDone: row.items_done,
      itemsTotal: row.items_total,
    },
    counts: {
      applied: row.applied,
      unchanged: row.unchanged,
      superseded: row.superseded,
      rejected: row.rejected,
      ...(arrearsRisk !== undefined && { arrearsRisk }),
    },
    rejectedByReason,
    waitingFor,
    error: row.error ?? null,
    createdAt: row.created_at.toISOString(),
    finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
    ...audit,
  };
}

export async function loadOperationView(db: Kysely<Database>, operationId: string): Promise<OperationView | undefined> {
  const row = await findOperation(db, operationId);
  return row && viewOf(db, row);
}

/** The view of an operation already read. */
export async function viewOf(db: Kysely<Database>, row: OperationRow): Promise<OperationView> {
  // One query after another: a status poll holds one pooled connection, as the workers need the rest.
  const waitingFor = !isFinal(row.status) && row.waiting_for?.length ? await unfinished(db, row.waiting_for) : [];
  return toOperationView(
    row,
    row.rejected > 0 ? await rejectionsByReason(db, row.operation_id) : {},
    waitingFor,
    row.kind === ARREARS_KIND ? await countArrearsRisk(db, row.operation_id) : undefined,
    await findAudit(db, row.operation_id),
  );
}

/**
 * The history partition an operation's rows are in, as a subquery: Postgres prunes the other
 * months when the query runs, so a read by operation probes one partition.
 */
const monthOfOperation = (operationId: string) =>
  sql<Date>`(SELECT date_trunc('month', created_at AT TIME ZONE 'UTC')::date FROM operations
             WHERE operation_id = ${operationId})`;

/** The kind whose history rows may carry `arrears_risk`: the member switch. */
const ARREARS_KIND = 'sharing.set';

/**
 * Members the operation flagged at risk of arrears: a count over a partial index of just them
 * (`sharing_history_arrears_idx`; the bare column is its predicate, so any plan matches it).
 */
async function countArrearsRisk(db: Kysely<Database>, operationId: string): Promise<number> {
  const row = await db
    .selectFrom('sharing_history')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('operation_id', '=', operationId)
    .where('operation_month', '=', monthOfOperation(operationId))
    .where((eb) => eb.ref('arrears_risk'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The members the operation flagged at risk of arrears, by id, after `afterMemberId`. */
export async function listArrearsRisk(
  db: Kysely<Database>,
  operationId: string,
  afterMemberId: string | null,
): Promise<Page<{ memberId: string; enterpriseId: string }>> {
  let query = db
    .selectFrom('sharing_history')
    .select(['member_id', 'enterprise_id'])
    .where('operation_id', '=', operationId)
    .where('operation_month', '=', monthOfOperation(operationId))
    .where((eb) => eb.ref('arrears_risk'));
  if (afterMemberId !== null) query = query.where('member_id', '>', afterMemberId);
  const rows = await query.orderBy('member_id').limit(PAGE_SIZE).execute();
  return pageOf(
    rows,
    (r) => r.member_id,
    (r) => ({ memberId: r.member_id, enterpriseId: r.enterprise_id }),
  );
}

export async function rejectionsByReason(db: Kysely<Database>, operationId: string): Promise<Record<string, number>> {
  const rows = await db
    .selectFrom('operation_rejections')
    .select(['reason', (eb) => eb.fn.countAll<number>().as('n')])
    .where('operation_id', '=', operationId)
    .groupBy('reason')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.reason, Number(r.n)]));
}

/** The operation's rejected items by position, from after `afterPosition` (-1: from the first). */
export async function listRejections(
  db: Kysely<Database>,
  operationId: string,
  afterPosition: number,
  limit = PAGE_SIZE,
): Promise<Page<RejectionView>> {
  const rows = await db
    .selectFrom('operation_rejections')
    .select(['position', 'member_id', 'coupon_id', 'package_id', 'record_id', 'reason'])
    .where('operation_id', '=', operationId)
    .where('position', '>', afterPosition)
    .orderBy('position')
    .limit(limit)
    .execute();
  return pageOf(
    rows,
    (r) => r.position,
    (r) => ({
      position: r.position,
      ...(r.member_id !== null && { memberId: r.member_id }),
      ...(r.coupon_id !== null && { couponId: r.coupon_id }),
      ...(r.package_id !== null && { packageId: r.package_id }),
      ...(r.record_id !== null && { recordId: r.record_id }),
      reason: r.reason,
    }),
    limit,
  );
}
