import type { z } from 'zod';
import { checkList, MAX_REPORTED_ISSUES, parseOrThrow, toValidationIssues } from '../domain/validation.js';
import { InvalidPayloadError } from '../errors.js';
import { type AnyKindSpec, kindSpec } from '../kinds/index.js';
import { type Operation, operationSchema } from './operation.js';

const headerSchemas = new WeakMap<AnyKindSpec, z.ZodObject>();

function headerSchemaOf(spec: AnyKindSpec, field: string): z.ZodObject {
  let schema = headerSchemas.get(spec);
  if (!schema) headerSchemas.set(spec, (schema = spec.schema.omit({ [field]: true } as never)));
  return schema;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * `operationSchema.parse` with bounded work for hostile batches: the item list is checked in
 * slices that stop after the first 100 problems, so five million bad member ids cost what a few
 * thousand do, where zod would make an issue of every one. A valid batch is checked once, as before.
 */
export function parseOperation(input: unknown): Operation {
  const spec = isRecord(input) && typeof input.kind === 'string' ? kindSpec(input.kind) : undefined;
  const field = spec?.items?.field;
  const list = field !== undefined && isRecord(input) ? input[field] : undefined;
  if (!spec?.items || field === undefined || !isRecord(input) || !Array.isArray(list) || list.length === 0) {
    return parseOrThrow(operationSchema, input);
  }
  const { [field]: _items, ...header } = input;
  const parsedHeader = headerSchemaOf(spec, field).safeParse(header);
  const items = checkList(spec.items.schema, list, field);
  if (parsedHeader.success && items.ok) return { ...parsedHeader.data, [field]: items.items } as Operation;
  const headerIssues = parsedHeader.success ? [] : toValidationIssues(parsedHeader.error);
  const itemIssues = items.ok ? [] : items.issues;
  throw new InvalidPayloadError([...headerIssues, ...itemIssues].slice(0, MAX_REPORTED_ISSUES), {
    issueCount: (parsedHeader.success ? 0 : parsedHeader.error.issues.length) + (items.ok ? 0 : items.issueCount),
  });
}
