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

/**
 * The same fingerprint as `payloadHash`, fed one item at a time: a streamed batch of a million
 * members hashes to the same value as the same batch sent whole, without being held in memory.
 */
export function streamingPayloadHash(header: Record<string, unknown>, itemsField: string) {
  const marker = '\u0000items\u0000';
  const json = canonicalJson({ ...header, operationId: undefined, [itemsField]: marker });
  const [prefix, suffix] = json.split(JSON.stringify(marker)) as [string, string];
  const hash = createHash('sha256').update(`${prefix}[`);
  let first = true;
  return {
    add(item: unknown): void {
      hash.update(first ? canonicalJson(item) : `,${canonicalJson(item)}`);
      first = false;
    },
    digest(): string {
      return hash.update(`]${suffix}`).digest('hex');
    },
  };
}

/** The idempotency fingerprint of an operation: everything the publisher sent except its id. */
export function payloadHash(operation: { operationId?: unknown } & Record<string, unknown>): string {
  const { operationId: _ignored, ...payload } = operation;
  return createHash('sha256').update(canonicalJson(payload)).digest('hex');
}
