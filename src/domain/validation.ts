import { z } from 'zod';
import { InvalidPayloadError, type ValidationIssue } from '../errors.js';

/** At most this many problems are reported: past that, a hostile body costs bounded memory. */
export const MAX_REPORTED_ISSUES = 100;

const toIssue = (issue: z.core.$ZodIssue, prefix: readonly PropertyKey[] = []): ValidationIssue => ({
  path: [...prefix, ...issue.path].map(String).join('.'),
  message: issue.message,
});

/** The first MAX_REPORTED_ISSUES problems, each with its path. */
export function toValidationIssues(error: z.ZodError): ValidationIssue[] {
  return error.issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => toIssue(issue));
}

/** Parses `input` or throws an InvalidPayloadError naming the offending fields (the first 100). */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success)
    throw new InvalidPayloadError(toValidationIssues(result.error), {
      cause: result.error,
      issueCount: result.error.issues.length,
    });
  return result.data;
}

// Items are checked a slice at a time, so a list of millions of bad items stops at the slice
// where the reported problems run out instead of becoming millions of issues.
const SLICE = 1_000;
const sliceSchemas = new WeakMap<z.ZodType, z.ZodArray<z.ZodType>>();

export type ListCheck<T> = { ok: true; items: T[] } | { ok: false; issues: ValidationIssue[]; issueCount: number };

/**
 * Checks a list item by item against `item`, stopping once MAX_REPORTED_ISSUES problems are
 * found: `issueCount` then counts the problems found so far, not the whole list's.
 */
export function checkList<S extends z.ZodType>(
  item: S,
  list: readonly unknown[],
  path: string,
): ListCheck<z.output<S>> {
  let sliceSchema = sliceSchemas.get(item);
  if (!sliceSchema) sliceSchemas.set(item, (sliceSchema = z.array(item)));
  const items: z.output<S>[] = [];
  const issues: ValidationIssue[] = [];
  let issueCount = 0;
  for (let start = 0; start < list.length && issueCount < MAX_REPORTED_ISSUES; start += SLICE) {
    const result = sliceSchema.safeParse(list.slice(start, start + SLICE));
    if (result.success) {
      if (issueCount === 0) for (const value of result.data) items.push(value as z.output<S>);
      continue;
    }
    issueCount += result.error.issues.length;
    for (const issue of result.error.issues) {
      if (issues.length >= MAX_REPORTED_ISSUES) break;
      const [index = 0, ...rest] = issue.path;
      issues.push(toIssue({ ...issue, path: [start + Number(index), ...rest] }, [path]));
    }
  }
  return issueCount === 0 ? { ok: true, items } : { ok: false, issues, issueCount };
}
