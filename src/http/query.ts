import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { toValidationIssues } from '../domain/validation.js';
import type { ValidationIssue } from '../errors.js';

/** A query string that does not fit its route: answered `400 { error: "invalid_query", issues }`. */
export class InvalidQueryError extends Error {
  override name = 'InvalidQueryError';
  readonly code = 'invalid_query';
  constructor(readonly issues: ValidationIssue[]) {
    super(`invalid query: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
}

/** The route's query, parsed; throws InvalidQueryError, which the app's error handler answers. */
export function parseQuery<S extends z.ZodType>(schema: S, request: FastifyRequest): z.output<S> {
  const parsed = schema.safeParse(request.query);
  if (!parsed.success) throw new InvalidQueryError(toValidationIssues(parsed.error));
  return parsed.data;
}
