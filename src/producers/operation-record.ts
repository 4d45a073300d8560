import { chunkCount } from '../domain/operations/chunk-plan.js';
import { payloadHash } from '../domain/operations/payload-hash.js';
import { CHUNK_SIZE, ITEMS_FIELD, type Operation } from './contract.js';

/** What the service stores about an operation, apart from its items. */
export interface OperationRecord {
  operationId: string;
  kind: Operation['kind'];
  enterpriseId: string;
  payloadHash: string;
  /** Small parameters (enabled, shareWithNewMembers, ...): everything but the item list. */
  params: Record<string, unknown>;
  items: readonly unknown[];
  itemsTotal: number;
  chunksTotal: number;
}

export function describeOperation(operation: Operation, operationId: string): OperationRecord {
  const { operationId: _id, kind, enterpriseId, ...rest } = operation;
  const field = ITEMS_FIELD[kind];
  const { [field ?? '']: batch, ...params } = rest as Record<string, unknown>;
  const items = field === null ? [] : (batch as unknown[]);
  return {
    operationId,
    kind,
    enterpriseId,
    payloadHash: payloadHash(operation),
    params,
    items,
    // An operation without items (the enterprise switch) counts as one item in one chunk.
    itemsTotal: Math.max(items.length, 1),
    chunksTotal: Math.max(chunkCount(items.length, CHUNK_SIZE), 1),
  };
}
