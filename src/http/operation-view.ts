import type { Kysely } from 'kysely';
import { isFinal } from '../domain/operations/operation-status.js';
import { findOperation, rejectionsByReason, unfinished } from '../db/operations.repository.js';
import type { Database, OperationRow } from '../db/schema.js';

export interface OperationView {
  operationId: string;
  kind: string;
  enterpriseId: string | null;
  status: string;
  progress: { chunksDone: number; chunksTotal: number | null; itemsDone: number; itemsTotal: number };
  counts: { applied: number; unchanged: number; superseded: number; rejected: number };
  rejectedByReason: Record<string, number>;
  /**
   * Operations published earlier, still unfinished, that this one's chunks wait for (they touch
   * the same members, coupons or switch); empty when nothing is in its way.
   */
  waitingFor: string[];
  error: unknown;
  createdAt: string;
  finishedAt: string | null;
}

export function toOperationView(
  row: OperationRow,
  rejectedByReason: Record<string, number>,
  waitingFor: string[] = [],
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
    counts: { applied: row.applied, unchanged: row.unchanged, superseded: row.superseded, rejected: row.rejected },
    rejectedByReason,
    waitingFor,
    error: row.error ?? null,
    createdAt: row.created_at.toISOString(),
    finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
  };
}

export async function loadOperationView(db: Kysely<Database>, operationId: string): Promise<OperationView | undefined> {
  const row = await findOperation(db, operationId);
  if (!row) return undefined;
  const waitingFor = !isFinal(row.status) && row.waiting_for?.length ? await unfinished(db, row.waiting_for) : [];
  return toOperationView(row, row.rejected > 0 ? await rejectionsByReason(db, operationId) : {}, waitingFor);
}
