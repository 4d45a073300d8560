export interface PlannedChunk<T> {
  chunkIndex: number;
  offset: number;
  items: T[];
}

/** Splits a batch into consecutive chunks of at most `size` items; positions are kept by `offset`. */
export function* planChunks<T>(items: readonly T[], size: number): Generator<PlannedChunk<T>> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  for (let offset = 0, chunkIndex = 0; offset < items.length; offset += size, chunkIndex += 1) {
    yield { chunkIndex, offset, items: items.slice(offset, offset + size) };
  }
}

export function chunkCount(itemCount: number, size: number): number {
  return Math.ceil(itemCount / size);
}

/** BullMQ job ids may not contain ':'; deterministic ids make re-enqueueing a no-op. */
export function chunkJobId(operationId: string, chunkIndex: number): string {
  return `${operationId}-chunk-${chunkIndex}`;
}
