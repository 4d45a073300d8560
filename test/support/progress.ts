import type { Kysely } from 'kysely';
import { pollUntil } from './processes.js';

const FINAL = new Set(['completed', 'completed_with_rejections', 'rejected', 'failed', 'cancelled']);

export interface Progress {
  status: string;
  final: boolean;
  chunksDone: number;
  chunksFailed: number;
  chunksTotal: number;
  itemsDone: number;
}

/** An operation's progress as Postgres (the source of truth) has it. */
export async function progressOf(db: Kysely<any>, operationId: string): Promise<Progress | undefined> {
  const row = await db
    .selectFrom('operation_summaries')
    .select(['status', 'chunks_done', 'chunks_failed', 'chunks_total', 'items_done'])
    .where('operation_id', '=', operationId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    status: row.status,
    final: FINAL.has(row.status),
    chunksDone: row.chunks_done,
    chunksFailed: row.chunks_failed,
    chunksTotal: row.chunks_total ?? 0,
    itemsDone: row.items_done,
  };
}

/** Polls (every `intervalMs`) until the operation's progress satisfies `predicate`. */
export function waitForProgress(
  db: Kysely<any>,
  operationId: string,
  predicate: (progress: Progress) => boolean,
  { timeoutMs = 60_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<Progress> {
  return pollUntil(
    `progress of ${operationId}`,
    async () => {
      const progress = await progressOf(db, operationId);
      return progress && predicate(progress) ? progress : undefined;
    },
    { timeoutMs, intervalMs },
  );
}

/** Waits until every operation is final; returns their progress. */
export async function waitForFinal(
  db: Kysely<any>,
  operationIds: readonly string[],
  timeoutMs = 120_000,
): Promise<Progress[]> {
  const deadline = Date.now() + timeoutMs;
  const results: Progress[] = [];
  for (const id of operationIds) {
    results.push(
      await waitForProgress(db, id, (p) => p.final, { timeoutMs: Math.max(deadline - Date.now(), 1), intervalMs: 100 }),
    );
  }
  return results;
}
