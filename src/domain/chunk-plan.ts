export interface PlannedChunk<T> {
  chunkIndex: number;
  offset: number;
  items: T[];
  /** Positions (in the batch) of the items that repeat an earlier item's key. */
  repeats?: number[];
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

/** The most chunks one job carries. */
export const MAX_CHUNKS_PER_JOB = 10;
/** A batch is grouped into jobs only when it still makes at least this many. */
const MIN_JOBS_TO_GROUP = 128;

/**
 * How many consecutive chunks each job of an operation carries, from its chunk count alone: the
 * publisher, and cancel and retry after it, find the job of a chunk with it. Every job costs the
 * queue about as much as a chunk's transaction costs Postgres, so a big batch goes ten chunks to a
 * job; a smaller one keeps enough jobs to spread over every worker.
 */
export function chunksPerJob(chunksTotal: number): number {
  return Math.min(MAX_CHUNKS_PER_JOB, Math.max(1, Math.floor(chunksTotal / MIN_JOBS_TO_GROUP)));
}

/**
 * Splits a batch into jobs of `perJob` consecutive chunks of at most `size` items; each job is
 * named by its first chunk.
 */
export async function* planChunkJobs<T>(
  items: Iterable<T> | AsyncIterable<T>,
  size: number,
  perJob: number,
): AsyncGenerator<PlannedChunk<T>> {
  for await (const job of planChunks(items, size * perJob)) yield { ...job, chunkIndex: job.offset / size };
}

/** The chunks of one job, in order. */
export function chunksOfJob<T>(job: PlannedChunk<T>, size: number): PlannedChunk<T>[] {
  if (job.items.length <= size) return [job];
  const chunks: PlannedChunk<T>[] = [];
  for (let start = 0; start < job.items.length; start += size) {
    const offset = job.offset + start;
    const items = job.items.slice(start, start + size);
    const repeats = job.repeats?.filter((p) => p >= offset && p < offset + items.length);
    chunks.push({
      chunkIndex: job.chunkIndex + start / size,
      offset,
      items,
      ...(repeats && repeats.length > 0 && { repeats }),
    });
  }
  return chunks;
}

/**
 * The id of the job that carries a chunk (BullMQ job ids may not contain ':'); deterministic ids
 * make re-enqueueing a no-op.
 */
export function chunkJobId(operationId: string, chunkIndex: number, perJob: number): string {
  return `${operationId}-chunk-${chunkIndex - (chunkIndex % perJob)}`;
}

/** The ids of the jobs that carry an operation's chunks, in chunk order. */
export function chunkJobIds(operationId: string, chunksTotal: number): string[] {
  const perJob = chunksPerJob(chunksTotal);
  return Array.from({ length: Math.ceil(chunksTotal / perJob) }, (_, i) => chunkJobId(operationId, i * perJob, perJob));
}
