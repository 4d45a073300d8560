import { describe, expect, it } from 'vitest';
import { chunkJobName, chunkJobSchema } from '../../src/contract/index.js';
import { exactRepeats } from '../../src/domain/repeats.js';
import { jobWithItems, plannedJobs, rangeJobs } from '../../src/producers/chunk-enqueuer.js';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const target = (chunksTotal: number) => ({ operationId: 'op', kind: 'sharing.set', chunksTotal, ordered: false });

describe('chunk jobs', () => {
  it('are named by kind and chunk range', () => {
    expect(chunkJobName('sharing.set', 3_940, 10)).toBe('sharing.set 3940–3949');
    expect(chunkJobName('coupons.allocate', 7, 1)).toBe('coupons.allocate 7');
  });

  it('by range cover every chunk and item of the batch once, as the planned jobs with items do', async () => {
    const items = Array.from({ length: 134_567 }, (_, i) => `m${i % 100_000}`);
    const chunksTotal = Math.ceil(items.length / 100);
    const planned = await collect(plannedJobs(items, chunksTotal, String, exactRepeats()));
    const withItems = planned.map((job) => jobWithItems(target(chunksTotal), job));
    const byRange = [...rangeJobs(target(chunksTotal), items.length)];
    const shape = (job: { chunkIndex: number; chunks?: number; itemCount?: number }) => [
      job.chunkIndex,
      job.chunks,
      job.itemCount,
    ];
    expect(byRange.map(shape)).toEqual(withItems.map(shape));
    expect(byRange.reduce((n, job) => n + job.chunks!, 0)).toBe(chunksTotal);
    expect(byRange.reduce((n, job) => n + job.itemCount!, 0)).toBe(items.length);
    // The repeats (the last 34,567 items) are marked on the jobs that hold them, by position.
    expect(planned.flatMap((job) => job.repeats ?? [])).toEqual(Array.from({ length: 34_567 }, (_, i) => 100_000 + i));
    for (const job of [...byRange, ...withItems]) expect(chunkJobSchema.safeParse(job).success).toBe(true);
  });

  it('of an operation without items make one chunk', async () => {
    const planned = await collect(plannedJobs([], 1, String, exactRepeats()));
    expect(planned).toEqual([{ chunkIndex: 0, offset: 0, items: [] }]);
    expect([...rangeJobs(target(1), 0)]).toEqual([
      { operationId: 'op', kind: 'sharing.set', chunkIndex: 0, chunks: 1, itemCount: 0 },
    ]);
  });

  it('carry an offset only with their items', () => {
    const ok = { operationId: 'op', chunkIndex: 0 };
    expect(chunkJobSchema.safeParse(ok).success).toBe(true);
    expect(chunkJobSchema.safeParse({ ...ok, offset: 0 }).success).toBe(false);
    expect(chunkJobSchema.safeParse({ ...ok, items: [] }).success).toBe(false);
  });
});
