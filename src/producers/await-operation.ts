import type { Kysely } from 'kysely';
import { isFinal } from '../domain/operation-status.js';
import type { Database } from '../db/schema.js';
import { loadOperationView, type OperationView } from '../read/operations.read.js';

export class OperationTimeoutError extends Error {
  override name = 'OperationTimeoutError';
  readonly code = 'operation_timeout';
  constructor(
    readonly operationId: string,
    timeoutMs: number,
    readonly lastSeen: OperationView | undefined,
  ) {
    super(
      `operation ${operationId} did not finish within ${timeoutMs} ms (last status: ${lastSeen?.status ?? 'unknown'})`,
    );
  }
}

/** Resolves when the operation reaches a final status; Postgres, not the queue, is the source of truth. */
export async function awaitFinalOperation(
  db: Kysely<Database>,
  operationId: string,
  { timeoutMs = 600_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<OperationView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const view = await loadOperationView(db, operationId);
    if (view && isFinal(view.status)) return view;
    if (Date.now() >= deadline) throw new OperationTimeoutError(operationId, timeoutMs, view);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
