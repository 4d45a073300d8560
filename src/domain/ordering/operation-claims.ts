import type { OperationKind } from '../../producers/contract.js';
import { type Claim, mergeClaims } from './claims.js';
import { KIND_CLAIMS, type OperationHeader } from './kind-claims.js';

/**
 * An operation of at most this many items claims each of them; a larger one claims the classes
 * they belong to. Item claims are rows Postgres writes when the operation is recorded (one to
 * three an item), which a batch of a million members should not pay for: a later operation that
 * may touch any of its items then waits for the whole of it.
 */
export const TRACKED_ITEMS_MAX = 1_000;

/**
 * The claims an operation is recorded with, for later operations to find: its own and its items'
 * when `items` is given and small enough, else its own and the classes of its items (a batch
 * streamed from a file is not held in memory, so it is claimed by class).
 */
export function operationClaims(
  kind: OperationKind,
  header: OperationHeader,
  items: readonly unknown[] | null,
): Claim[] {
  const claims = KIND_CLAIMS[kind];
  const tracked = items !== null && items.length <= TRACKED_ITEMS_MAX;
  return mergeClaims([
    ...claims.operation(header),
    ...(tracked ? items.flatMap((item) => claims.item(header, item)) : claims.everyItem(header)),
  ]);
}

/** What one chunk touches: the operation's own claims and each of its items'. */
export function chunkClaims(kind: OperationKind, header: OperationHeader, items: readonly unknown[]): Claim[] {
  const claims = KIND_CLAIMS[kind];
  return mergeClaims([...claims.operation(header), ...items.flatMap((item) => claims.item(header, item))]);
}
