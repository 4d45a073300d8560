import { operationMonth } from '../domain/history-months.js';
import { z } from 'zod';
import type { PlannedChunk } from '../domain/chunk-plan.js';
import type { KindClaims } from '../domain/ordering/operation-claims.js';
import { parseOrThrow } from '../domain/validation.js';
import type { OperationRow } from '../db/schema.js';
import type { ChunkWork } from '../operations/chunk-work.js';

/** What a chunk needs of its operation: fixed when the operation is recorded, never updated. */
export type OperationIdentity = Pick<
  OperationRow,
  'operation_id' | 'kind' | 'enterprise_id' | 'params' | 'seq' | 'chunks_total' | 'created_at'
>;

/** Where an operation's history rows go: its id and the month it was recorded in (the partition). */
export interface HistoryScope {
  readonly operationId: string;
  readonly month: string;
}

export function historyScope(operation: OperationIdentity): HistoryScope {
  return { operationId: operation.operation_id, month: operationMonth(operation.created_at) };
}

/** What the service's configuration says about applying chunks, for the kinds whose rules take it. */
export interface ApplySettings {
  /** A member disabled within this many days of drawing on the master's packages is at risk of arrears. */
  readonly arrearsLookbackDays: number;
}

export const DEFAULT_APPLY_SETTINGS: ApplySettings = Object.freeze({ arrearsLookbackDays: 30 });

/** The ids a rejection may carry (`Rejection` in `src/domain/outcomes.ts`). */
export type RejectionIdField = 'memberId' | 'couponId' | 'packageId' | 'recordId';

/** How the CLI reads one item of this kind from a file. */
export interface ItemFileFormat {
  /** The CSV columns, in order, as `--help` names them. */
  columns: string;
  /**
   * The ids `benefits rejections` prints for a rejected item, in order. Member and coupon kinds
   * print `memberId,couponId`, as they always have (scripts parse them).
   */
  rejectedBy: readonly RejectionIdField[];
  /** A CSV line's fields as the item the schema checks (a header row is skipped by its first cell). */
  fromCsv(fields: string[]): unknown;
  /** An NDJSON line's value as the item (by default, as it is). */
  fromNdjson?(value: unknown): unknown;
}

/**
 * Everything an operation kind is, in one object: the registry (`src/kinds/index.ts`) lists these,
 * and the contract, the workers' dispatch, the CLI and the HTTP validation are derived from it.
 */
export interface KindSpec<Kind extends string, Schema extends z.ZodObject, Item> {
  readonly kind: Kind;
  /** The operation as published: `kind`, `enterpriseId`, an optional `operationId`, its parameters and items. */
  readonly schema: Schema;
  /** The field holding the batch and one item's schema; null for an operation that is one item. */
  readonly items: { readonly field: string; readonly schema: z.ZodType<Item> } | null;
  /** What identifies an item in its batch: a later item with the same key is `duplicate_item`. */
  itemKey(item: Item): string;
  /** What the operation reads and writes, for publication order (`src/domain/ordering`). */
  readonly claims: KindClaims<Item>;
  /** Its chunks apply one after another, in batch order. */
  readonly ordered: boolean;
  /** One chunk's reads and, decided from them, its writes. */
  apply(operation: OperationIdentity, chunk: PlannedChunk<unknown>, settings: ApplySettings): ChunkWork;
  /** How the CLI reads its items from a file; null for a kind without items. */
  readonly file: ItemFileFormat | null;
}

/** Checks a spec against the interface while keeping its own types (the literal kind, the schema). */
export const defineKind = <Kind extends string, Schema extends z.ZodObject, Item>(
  spec: KindSpec<Kind, Schema, Item>,
): KindSpec<Kind, Schema, Item> => spec;

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

export function enterpriseOf(operation: OperationIdentity): string {
  if (operation.enterprise_id === null) throw new Error(`operation ${operation.operation_id} has no enterprise`);
  return operation.enterprise_id;
}

/** The positions of a chunk's items that the publisher marked as repeats of an earlier item. */
export function repeatsOf(chunk: PlannedChunk<unknown>): ReadonlySet<number> | undefined {
  return chunk.repeats && new Set(chunk.repeats);
}
