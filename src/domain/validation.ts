import type { z } from 'zod';
import { InvalidPayloadError, type ValidationIssue } from '../errors.js';

export function toValidationIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}

/** Parses `input` or throws an InvalidPayloadError naming every offending field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new InvalidPayloadError(toValidationIssues(result.error), { cause: result.error });
  return result.data;
}
