import type { Transaction } from 'kysely';
import type { OutcomeCounts } from '../../domain/operations/item-outcome.js';
import type { Database, OperationRow } from '../../db/schema.js';
import type { ChunkJob } from '../../producers/contract.js';

export interface ChunkOutcome {
  /** Items of the batch this chunk accounts for (progress). */
  itemCount: number;
  counts: OutcomeCounts;
}

/** Applies one claimed chunk inside the chunk's transaction. */
export type ChunkApplier = (tx: Transaction<Database>, operation: OperationRow, chunk: ChunkJob) => Promise<ChunkOutcome>;
