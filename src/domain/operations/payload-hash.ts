import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so the same payload always hashes the same whatever its key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The idempotency fingerprint of an operation: everything the publisher sent except its id. */
export function payloadHash(operation: { operationId?: unknown } & Record<string, unknown>): string {
  const { operationId: _ignored, ...payload } = operation;
  return createHash('sha256').update(canonicalJson(payload)).digest('hex');
}
