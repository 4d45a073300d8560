import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ItemFileFormat } from '../kinds/kind.js';

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

/** A header row starts with the kind's first column's name (`memberId`, `member_id` or `member`). */
function isHeaderRow(fields: string[], format: ItemFileFormat): boolean {
  const cell = (fields[0] ?? '').toLowerCase().replace(/_/g, '');
  const column = format.columns.split(/[,[ ]/)[0]!.toLowerCase();
  return cell === column || cell === column.replace(/id$/, '');
}

/**
 * Streams the items of a CSV or NDJSON file, one line at a time: a file of a million lines is
 * never read whole. Blank lines and a CSV header row are skipped. Each kind says how a line
 * becomes its item (`ItemFileFormat`); its schema checks the item afterwards.
 */
export async function* readItems(path: string, kind: ItemFileFormat, format: FileFormat): AsyncGenerator<unknown> {
  for await (const { item } of readItemLines(path, kind, format)) yield item;
}

/** Each item with its 1-based line in the file (a header row and blank lines count). */
export async function* readItemLines(
  path: string,
  kind: ItemFileFormat,
  format: FileFormat,
): AsyncGenerator<{ line: number; item: unknown }> {
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
      yield { line: number, item: kind.fromNdjson ? kind.fromNdjson(value) : value };
      continue;
    }
    const fields = csvFields(line);
    if (number === 1 && isHeaderRow(fields, kind)) continue;
    yield { line: number, item: kind.fromCsv(fields) };
  }
}

/**
 * The file lines of the items a check refused, by item index: read again only when a check
 * failed, so a large file costs no line-number bookkeeping when it is good.
 */
export async function locateItems(
  path: string,
  kind: ItemFileFormat,
  format: FileFormat,
  indexes: ReadonlySet<number>,
): Promise<Map<number, { line: number; item: unknown }>> {
  const found = new Map<number, { line: number; item: unknown }>();
  const last = Math.max(-1, ...indexes);
  let index = 0;
  for await (const located of readItemLines(path, kind, format)) {
    if (indexes.has(index)) found.set(index, located);
    if (index >= last) break;
    index += 1;
  }
  return found;
}
