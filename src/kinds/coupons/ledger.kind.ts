import { z } from 'zod';
import { couponIdSchema, operationBase } from '../../contract/ids.js';
import type { PlannedChunk } from '../../domain/chunk-plan.js';
import type { ChunkWork } from '../../operations/chunk-work.js';
import { defineKind, type OperationIdentity } from '../kind.js';
import { ledgerClaims, ledgerFile } from './ledger-chunk.work.js';

/**
 * A kind that moves money between one coupon and its members (allocation, revocation): its items
 * under `field`, a member and an amount each; every item draws on or returns to the same balance,
 * so its chunks apply in batch order.
 */
export function defineLedgerKind<
  const Kind extends string,
  const Field extends string,
  Item extends { memberId: string; amount?: string },
>(spec: {
  kind: Kind;
  field: Field;
  itemSchema: z.ZodType<Item>;
  amountRequired: boolean;
  work: (operation: OperationIdentity, chunk: PlannedChunk<unknown>) => ChunkWork;
}) {
  const items = { [spec.field]: z.array(spec.itemSchema).min(1) } as Record<Field, z.ZodArray<z.ZodType<Item>>>;
  return defineKind({
    kind: spec.kind,
    schema: z.strictObject({ ...operationBase, kind: z.literal(spec.kind), couponId: couponIdSchema, ...items }),
    items: { field: spec.field, schema: spec.itemSchema },
    itemKey: (item: Item) => item.memberId,
    claims: ledgerClaims,
    ordered: true,
    apply: spec.work,
    file: ledgerFile(spec.amountRequired),
  });
}
