import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { isFinal } from '../domain/operation-status.js';
import type { Database } from '../db/schema.js';
import { loadOperationView } from '../read/operations.read.js';
import { JOBS } from '../contract/index.js';

export interface OperationFinishedEvent {
  operationId: string;
  kind: string;
  enterpriseId: string | null;
  status: string;
  counts: { applied: number; unchanged: number; superseded: number; rejected: number };
  rejectedByReason: Record<string, number>;
  finishedAt: string | null;
}

export type CompletionNotifier = (operationId: string) => Promise<void>;

/**
 * Publishes `operation.finished` on the outbound events queue. The job id is derived from the
 * operation and the moment it finished, so announcing the same ending twice adds one job, while
 * an operation that finishes again after a retry is announced again.
 */
export function createCompletionNotifier(db: Kysely<Database>, events: () => Promise<Queue>): CompletionNotifier {
  return async (operationId) => {
    const view = await loadOperationView(db, operationId);
    if (!view || !isFinal(view.status)) return;
    const event: OperationFinishedEvent = {
      operationId: view.operationId,
      kind: view.kind,
      enterpriseId: view.enterpriseId,
      status: view.status,
      counts: view.counts,
      rejectedByReason: view.rejectedByReason,
      finishedAt: view.finishedAt,
    };
    const finishedAt = view.finishedAt ? Date.parse(view.finishedAt) : 0;
    await (
      await events()
    ).add(JOBS.operationFinished, event, {
      jobId: `${operationId}-${view.status}-${finishedAt}`,
      removeOnComplete: { age: 24 * 3_600 },
      removeOnFail: { age: 7 * 24 * 3_600 },
    });
  };
}
