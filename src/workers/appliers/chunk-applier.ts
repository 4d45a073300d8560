import { z } from 'zod';
import type { ChunkOutcome } from '../../domain/operations/item-outcome.js';
import { parseOrThrow } from '../../domain/operations/validation.js';
import type { OperationRow, Tx } from '../../db/schema.js';
import type { ChunkJob } from '../../producers/contract.js';

/** What a chunk needs of its operation: fixed when the operation is recorded, never updated. */
export type OperationIdentity = Pick<OperationRow, 'operation_id' | 'kind' | 'enterprise_id' | 'params' | 'seq'>;

/** Applies one claimed chunk inside the chunk's transaction. */
export type ChunkApplier = (tx: Tx, operation: OperationIdentity, chunk: ChunkJob) => Promise<ChunkOutcome>;

/** Chunk items come from Redis: parsed again against the kind's item schema before use. */
export function parseItems<S extends z.ZodType>(schema: S, chunk: ChunkJob): z.output<S>[] {
  return parseOrThrow(z.array(schema), chunk.items);
}

/** Parses an operation's stored parameters (everything but its items). */
export function parseParams<S extends z.ZodType>(schema: S, operation: OperationIdentity): z.output<S> {
  return parseOrThrow(schema, operation.params);
}

export function enterpriseOf(operation: OperationIdentity): string {
  if (operation.enterprise_id === null) throw new Error(`operation ${operation.operation_id} has no enterprise`);
  return operation.enterprise_id;
}
