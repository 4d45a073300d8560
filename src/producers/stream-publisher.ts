import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { streamingPayloadHash } from '../domain/payload-hash.js';
import { KeySieve, repeatsAmong } from '../domain/repeats.js';
import { parseOrThrow } from '../domain/validation.js';
import { InvalidPayloadError, type ValidationIssue } from '../errors.js';
import { KINDS, kindSpec, type OperationKind } from '../kinds/index.js';
import { describeHeader } from './operation-record.js';
import { type PublishOptions, type PublisherDeps, type PublishResult, recordAndEnqueue } from './publisher.js';

/** The operation without its item list: `{ operationId?, kind, enterpriseId, ...params }`. */
export type StreamHeader = Record<string, unknown> & { kind: string };

export interface StreamPublishOptions extends PublishOptions {
  /** Called while the items are checked, with the number checked so far. */
  onChecked?: (items: number) => void;
  /** How many item problems to report before giving up on the check. */
  maxIssues?: number;
}

function schemasFor(kind: string) {
  const spec = kindSpec(kind);
  if (!spec?.items) {
    const kinds = KINDS.filter((k) => k.items !== null).map((k) => k.kind);
    throw new InvalidPayloadError([{ path: 'kind', message: `streaming takes one of ${kinds.join(', ')}` }]);
  }
  const { field } = spec.items;
  const header = spec.schema.omit({ [field]: true } as never);
  return { field, header, item: spec.items.schema, itemKey: (item: unknown) => spec.itemKey(item) };
}

/**
 * Publishes an operation whose items arrive as a stream (a file of a million members), with
 * memory bounded by one slice of chunks. `openItems` is called twice: a first pass checks every
 * item and computes the payload hash, so nothing is recorded for a file with a bad line and the
 * idempotency check works as for any operation; the second pass stores the items with the
 * operation, in one transaction, and the jobs enqueued after it name their chunk range only.
 */
export async function publishStream(
  deps: PublisherDeps,
  rawHeader: StreamHeader,
  openItems: () => AsyncIterable<unknown>,
  options: StreamPublishOptions = {},
): Promise<PublishResult> {
  const schemas = schemasFor(rawHeader.kind);
  const header = parseOrThrow(schemas.header, rawHeader) as unknown as Record<string, unknown> & {
    kind: OperationKind;
    enterpriseId: string;
  };
  const maxIssues = options.maxIssues ?? 20;
  const hash = streamingPayloadHash(header, schemas.field);
  const { itemKey } = schemas;
  // Keys that may repeat: the second pass tells repeats exactly among them, in bounded memory.
  const sieve = new KeySieve();
  const issues: ValidationIssue[] = [];
  let count = 0;
  for await (const raw of openItems()) {
    const parsed = schemas.item.safeParse(raw);
    if (parsed.success) {
      hash.add(parsed.data);
      sieve.add(itemKey(parsed.data));
    } else {
      for (const issue of parsed.error.issues) {
        issues.push({ path: [schemas.field, count, ...issue.path].map(String).join('.'), message: issue.message });
      }
      if (issues.length >= maxIssues) break;
    }
    count += 1;
    if (count % 10_000 === 0) options.onChecked?.(count);
  }
  options.onChecked?.(count);
  if (count === 0) issues.push({ path: schemas.field, message: 'must contain at least 1 item' });
  if (issues.length > 0) throw new InvalidPayloadError(issues.slice(0, maxIssues));

  const operationId = (header.operationId as string | undefined) ?? options.defaultOperationId ?? randomUUID();
  const record = describeHeader(header, operationId, count, hash.digest(), null);
  return recordAndEnqueue(
    deps,
    record,
    {
      stream: () => checkedAgain(openItems(), schemas.item, count),
      itemCount: count,
      repeats: repeatsAmong(sieve.candidates),
    },
    options,
  );
}

/** The second pass re-reads the source: it must still hold the items the first pass checked. */
async function* checkedAgain(items: AsyncIterable<unknown>, schema: z.ZodType, expected: number) {
  let count = 0;
  for await (const raw of items) {
    count += 1;
    yield parseOrThrow(schema, raw);
  }
  if (count !== expected)
    throw new Error(`the source changed while publishing: ${expected} items checked, ${count} read`);
}
