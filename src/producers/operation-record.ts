import { CHUNK_SIZE, type Operation } from '../contract/index.js';
import { chunkCount } from '../domain/chunk-plan.js';
import type { Claim } from '../domain/ordering/claims.js';
import { operationClaims } from '../domain/ordering/operation-claims.js';
import { payloadHash } from '../domain/payload-hash.js';
import { type AnyKindSpec, kindSpec, type OperationKind } from '../kinds/index.js';

/** What the service stores about an operation, apart from its items. */
export interface OperationRecord {
  operationId: string;
  kind: OperationKind;
  enterpriseId: string;
  payloadHash: string;
  /** Small parameters (enabled, shareWithNewMembers, ...): everything but the item list. */
  params: Record<string, unknown>;
  itemsTotal: number;
  chunksTotal: number;
  /** What the operation touches, recorded with it for later operations to wait on. */
  claims: Claim[];
  /** Its chunks apply one after another. */
  ordered: boolean;
  itemKey: (item: unknown) => string;
}

export function specOf(kind: string): AnyKindSpec {
  const spec = kindSpec(kind);
  if (!spec) throw new Error(`no operation kind ${kind}`);
  return spec;
}

/**
 * Splits a header (the operation without its items) into what is stored about it; `items` when
 * the batch is in memory (its items are then claimed one by one if it is small), null when streamed.
 */
export function describeHeader(
  header: Record<string, unknown> & { kind: OperationKind; enterpriseId: string },
  operationId: string,
  itemCount: number,
  hash: string,
  items: readonly unknown[] | null,
): OperationRecord {
  const { operationId: _id, kind, enterpriseId, ...params } = header;
  const spec = specOf(kind);
  return {
    operationId,
    kind,
    enterpriseId,
    payloadHash: hash,
    params,
    // An operation without items (the enterprise switch) counts as one item in one chunk.
    itemsTotal: Math.max(itemCount, 1),
    chunksTotal: Math.max(chunkCount(itemCount, CHUNK_SIZE), 1),
    claims: operationClaims(spec.claims, { enterpriseId, params }, items),
    ordered: spec.ordered,
    itemKey: (item) => spec.itemKey(item),
  };
}

/** A whole operation in memory: its record and its items. */
export function describeOperation(
  operation: Operation,
  operationId: string,
): { record: OperationRecord; items: unknown[] } {
  const field = specOf(operation.kind).items?.field;
  const { [field ?? '']: batch, ...header } = operation as unknown as Record<string, unknown>;
  const items = field === undefined ? [] : (batch as unknown[]);
  return {
    record: describeHeader(
      header as typeof header & Operation,
      operationId,
      items.length,
      payloadHash(operation),
      items,
    ),
    items,
  };
}
