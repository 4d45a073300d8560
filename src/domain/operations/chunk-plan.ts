export interface PlannedChunk<T> {
  chunkIndex: number;
  offset: number;
  items: T[];
}

/**
 * Splits a batch into consecutive chunks of at most `size` items; positions are kept by `offset`.
 * Takes a stream as well as an array, holding one chunk at a time, so a million-member file
 * never sits in memory whole.
 */
export async function* planChunks<T>(
  items: Iterable<T> | AsyncIterable<T>,
  size: number,
): AsyncGenerator<PlannedChunk<T>> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  // `for await` over an array awaits every item: a microtask each, 200,000 for a big batch.
  if (Array.isArray(items)) {
    for (let offset = 0; offset < items.length; offset += size)
      yield { chunkIndex: offset / size, offset, items: items.slice(offset, offset + size) };
    return;
  }
  let chunk: T[] = [];
  let chunkIndex = 0;
  let offset = 0;
  for await (const item of items) {
    chunk.push(item);
    if (chunk.length === size) {
      yield { chunkIndex, offset, items: chunk };
      chunkIndex += 1;
      offset += size;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield { chunkIndex, offset, items: chunk };
}

export function chunkCount(itemCount: number, size: number): number {
  return Math.ceil(itemCount / size);
}

/** BullMQ job ids may not contain ':'; deterministic ids make re-enqueueing a no-op. */
export function chunkJobId(operationId: string, chunkIndex: number): string {
  return `${operationId}-chunk-${chunkIndex}`;
}
