import { type Claim, mergeClaims } from './claims.js';

/** What claims are made from: the operation without its items. */
export interface OperationHeader {
  enterpriseId: string;
  params: Record<string, unknown>;
}

/**
 * The claims of one kind of operation: those of the operation as a whole, those of one item, and
 * the classes that stand for every item of an operation too large to claim them one by one.
 */
export interface KindClaims<Item> {
  operation(header: OperationHeader): Claim[];
  item(header: OperationHeader, item: Item): Claim[];
  everyItem(header: OperationHeader): Claim[];
}

/**
 * An operation of at most this many items claims each of them; a larger one claims the classes
 * they belong to. Item claims are rows Postgres writes when the operation is recorded (one or two
 * an item), which a batch of a million members should not pay for: a later operation that may
 * touch any of its items then waits for the whole of it.
 */
export const TRACKED_ITEMS_MAX = 1_000;

/**
 * The claims an operation is recorded with, for later operations to find: its own and its items'
 * when `items` is given and small enough, else its own and the classes of its items (a batch
 * streamed from a file is not held in memory, so it is claimed by class).
 */
export function operationClaims<Item>(
  claims: KindClaims<Item>,
  header: OperationHeader,
  items: readonly Item[] | null,
): Claim[] {
  const tracked = items !== null && items.length <= TRACKED_ITEMS_MAX;
  return mergeClaims([
    ...claims.operation(header),
    ...(tracked ? items.flatMap((item) => claims.item(header, item)) : claims.everyItem(header)),
  ]);
}

/** What one chunk touches: the operation's own claims and each of its items'. */
export function chunkClaims<Item>(claims: KindClaims<Item>, header: OperationHeader, items: readonly Item[]): Claim[] {
  return mergeClaims([...claims.operation(header), ...items.flatMap((item) => claims.item(header, item))]);
}
