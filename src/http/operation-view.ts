import type { Kysely } from 'kysely';
import { findOperation, rejectionsByReason } from '../db/operations.repository.js';
import type { Database, OperationRow } from '../db/schema.js';

export interface OperationView {
  operationId: string;
  kind: string;
  enterpriseId: string | null;
  status: string;
  progress: { chunksDone: number; chunksTotal: number | null; itemsDone: number; itemsTotal: number };
  counts: { applied: number; unchanged: number; superseded: number; rejected: number };
  rejectedByReason: Record<string, number>;
  error: unknown;
  createdAt: string;
  finishedAt: string | null;
}

export function toOperationView(row: OperationRow, rejectedByReason: Record<string, number>): OperationView {
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
    error: row.error ?? null,
    createdAt: row.created_at.toISOString(),
    finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
  };
}

export async function loadOperationView(db: Kysely<Database>, operationId: string): Promise<OperationView | undefined> {
  const row = await findOperation(db, operationId);
  if (!row) return undefined;
  return toOperationView(row, row.rejected > 0 ? await rejectionsByReason(db, operationId) : {});
}
