import { z } from 'zod';
import { KINDS } from '../kinds/index.js';

type SchemasOf<Specs extends readonly unknown[]> = {
  -readonly [I in keyof Specs]: Specs[I] extends { readonly schema: infer S extends z.ZodObject } ? S : never;
};
type PayloadSchemas = SchemasOf<typeof KINDS>;

/** An operation as published: one of the kinds' payloads, told apart by `kind`. */
export const operationSchema = z.discriminatedUnion('kind', KINDS.map((spec) => spec.schema) as unknown as PayloadSchemas);

export type OperationInput = z.input<typeof operationSchema>;
export type Operation = z.output<typeof operationSchema>;
export { OPERATION_KINDS, type OperationKind } from '../kinds/index.js';
export { OPERATION_STATUSES, type OperationStatus } from '../domain/operation-status.js';
export { REJECTION_REASONS, type RejectionReason } from '../domain/outcomes.js';
