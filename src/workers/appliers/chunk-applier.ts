import { z } from 'zod';
import { parseOrThrow } from '../../domain/operations/validation.js';
import type { ChunkWork } from '../../db/chunk-transaction.js';
import type { OperationRow } from '../../db/schema.js';
import type { PlannedChunk } from '../../domain/operations/chunk-plan.js';

/** What a chunk needs of its operation: fixed when the operation is recorded, never updated. */
export type OperationIdentity = Pick<
  OperationRow,
  'operation_id' | 'kind' | 'enterprise_id' | 'params' | 'seq' | 'chunks_total'
>;

/** What applying one chunk of an operation of its kind takes: its reads, then its writes. */
export type ChunkApplier = (operation: OperationIdentity, chunk: PlannedChunk<unknown>) => ChunkWork;

// One array schema per item schema: building a zod schema costs more than the parse it is for.
const itemArrays = new WeakMap<z.ZodType, z.ZodArray<z.ZodType>>();

/** Chunk items come from Redis: parsed again against the kind's item schema before use. */
export function parseItems<S extends z.ZodType>(schema: S, chunk: PlannedChunk<unknown>): z.output<S>[] {
  let arraySchema = itemArrays.get(schema);
  if (!arraySchema) itemArrays.set(schema, (arraySchema = z.array(schema)));
  return parseOrThrow(arraySchema, chunk.items) as z.output<S>[];
}

/** Parses an operation's stored parameters (everything but its items). */
export function parseParams<S extends z.ZodType>(schema: S, operation: OperationIdentity): z.output<S> {
  return parseOrThrow(schema, operation.params);
}

/** The positions of a chunk's items that the publisher marked as repeats of an earlier item. */
export function repeatsOf(chunk: PlannedChunk<unknown>): ReadonlySet<number> | undefined {
  return chunk.repeats && new Set(chunk.repeats);
}

export function enterpriseOf(operation: OperationIdentity): string {
  if (operation.enterprise_id === null) throw new Error(`operation ${operation.operation_id} has no enterprise`);
  return operation.enterprise_id;
}
