export interface ValidationIssue {
  path: string;
  message: string;
}

/**
 * A payload that fails its schema: permanent, names the offending fields (the first ones, when
 * there are many: `issueCount` says how many were found).
 */
export class InvalidPayloadError extends Error {
  override name = 'InvalidPayloadError';
  readonly code = 'invalid_payload';
  readonly issueCount: number;
  constructor(
    readonly issues: ValidationIssue[],
    options?: { cause?: unknown; issueCount?: number },
  ) {
    const count = options?.issueCount ?? issues.length;
    const more = count > issues.length ? `; and ${count - issues.length} more` : '';
    super(`invalid payload: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}${more}`, options);
    this.issueCount = count;
  }
}

/** The same operationId was published before with a different payload. */
export class IdempotencyConflictError extends Error {
  override name = 'IdempotencyConflictError';
  readonly code = 'idempotency_conflict';
  constructor(readonly operationId: string) {
    super(`operation ${operationId} was already published with a different payload`);
  }
}

/** A chunk names an operation Postgres does not know: the chunk was published without its operation. */
export class UnknownOperationError extends Error {
  override name = 'UnknownOperationError';
  readonly code = 'unknown_operation';
  constructor(readonly operationId: string) {
    super(`operation ${operationId} is not recorded`);
  }
}
