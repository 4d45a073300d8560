import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { OperationKind } from '../producers/contract.js';

export type FileFormat = 'csv' | 'ndjson';

export function formatOf(path: string, explicit?: string): FileFormat {
  if (explicit === 'csv' || explicit === 'ndjson') return explicit;
  return /\.(nd)?jsonl?$/i.test(path) ? 'ndjson' : 'csv';
}

/** A line that cannot even be split into fields: reported with its line number. */
export class FileLineError extends Error {
  override name = 'FileLineError';
  readonly code = 'invalid_line';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

function csvFields(line: string): string[] {
  return line.split(',').map((field) => field.trim().replace(/^"(.*)"$/, '$1'));
}

const HEADER_CELLS = new Set(['memberid', 'member_id', 'member', 'couponid', 'coupon_id']);

/** Turns one CSV row into the item the operation kind expects; the schema checks it afterwards. */
function csvItem(kind: OperationKind, fields: string[]): unknown {
  const [first = '', second, third, fourth, fifth, sixth] = fields;
  switch (kind) {
    case 'coupons.allocate':
      return { memberId: first, amount: second ?? '' };
    case 'coupons.revoke':
      return second ? { memberId: first, amount: second } : { memberId: first };
    case 'coupons.issue':
      return {
        couponId: first,
        faceValue: second,
        allocationMode: third,
        validFrom: fourth,
        validUntil: fifth,
        products: (sixth ?? '').split(/[;|]/).filter(Boolean),
      };
    default:
      return first;
  }
}

/** NDJSON rows are items as JSON; for member kinds a bare string or `{ "memberId": ... }`. */
function ndjsonItem(kind: OperationKind, value: unknown): unknown {
  const memberKind = kind === 'members.associate' || kind === 'members.dissociate' || kind === 'sharing.set';
  if (memberKind && value !== null && typeof value === 'object' && 'memberId' in value)
    return (value as { memberId: unknown }).memberId;
  return value;
}

/**
 * Streams the items of a CSV or NDJSON file, one line at a time: a file of a million lines is
 * never read whole. Blank lines and a CSV header row are skipped.
 */
export async function* readItems(path: string, kind: OperationKind, format: FileFormat): AsyncGenerator<unknown> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let number = 0;
  for await (const raw of lines) {
    number += 1;
    const line = raw.trim();
    if (line === '') continue;
    if (format === 'ndjson') {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new FileLineError(number, `not JSON (${(error as Error).message})`);
      }
      yield ndjsonItem(kind, value);
      continue;
    }
    const fields = csvFields(line);
    if (number === 1 && HEADER_CELLS.has((fields[0] ?? '').toLowerCase())) continue;
    yield csvItem(kind, fields);
  }
}
