import type { Kysely } from 'kysely';
import { findOperation } from '../operations/operation-records.js';
import type { Database } from '../db/schema.js';
import type { OperationIdentity } from '../kinds/kind.js';

/**
 * Remembers the fixed part of the operations this worker is applying, so each chunk of a batch
 * does not read its operation's row again. Status and counters are not kept: they change, and the
 * chunk's claim reads the status in its own transaction. Bounded: least recently used goes first.
 */
export function createOperationCache(db: Kysely<Database>, capacity = 1_000) {
  const entries = new Map<string, OperationIdentity>();
  return async function operationIdentity(operationId: string): Promise<OperationIdentity | undefined> {
    const cached = entries.get(operationId);
    if (cached) {
      entries.delete(operationId);
      entries.set(operationId, cached);
      return cached;
    }
    const row = await findOperation(db, operationId);
    if (!row) return undefined;
    const { operation_id, kind, enterprise_id, params, seq, chunks_total, created_at } = row;
    const identity = { operation_id, kind, enterprise_id, params, seq, chunks_total, created_at };
    entries.set(operationId, identity);
    if (entries.size > capacity) entries.delete(entries.keys().next().value!);
    return identity;
  };
}
