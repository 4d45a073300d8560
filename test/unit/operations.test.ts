import { describe, expect, it } from 'vitest';
import {
  chunkCount,
  chunkJobId,
  chunkJobIds,
  chunksOfJob,
  chunksPerJob,
  MAX_CHUNKS_PER_JOB,
  planChunkJobs,
  planChunks,
} from '../../src/domain/chunk-plan.js';
import { statusAfterChunk } from '../../src/domain/operation-status.js';
import { canonicalJson, payloadHash, streamingPayloadHash } from '../../src/domain/payload-hash.js';

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('chunk planning', () => {
  it('splits 1,050 items into 11 chunks of at most 100 keeping positions', async () => {
    const items = Array.from({ length: 1050 }, (_, i) => `m${i}`);
    const chunks = await collect(planChunks(items, 100));
    expect(chunks).toHaveLength(11);
    expect(chunkCount(1050, 100)).toBe(11);
    expect(chunks.every((c) => c.items.length <= 100)).toBe(true);
    expect(chunks[10]).toMatchObject({ chunkIndex: 10, offset: 1000 });
    expect(chunks[10]!.items).toHaveLength(50);
    expect(chunks.flatMap((c) => c.items)).toEqual(items);
  });

  it('rejects a nonsensical chunk size', async () => {
    await expect(collect(planChunks(['a'], 0))).rejects.toThrow(RangeError);
  });

  it('chunks a stream without reading it whole', async () => {
    async function* stream() {
      for (let i = 0; i < 250; i += 1) yield i;
    }
    const sizes = [];
    for await (const chunk of planChunks(stream(), 100)) sizes.push([chunk.offset, chunk.items.length]);
    expect(sizes).toEqual([
      [0, 100],
      [100, 100],
      [200, 50],
    ]);
  });

  it('makes job ids BullMQ accepts (no colon) and that are the same every time', () => {
    expect(chunkJobId('op-1', 7, 1)).toBe('op-1-chunk-7');
    expect(chunkJobId('op-1', 7, 1)).not.toContain(':');
  });
});

describe('chunks grouped into jobs', () => {
  it('keeps one chunk to a job until a batch makes 256 chunks, then groups up to ten', () => {
    expect([1, 100, 255].map(chunksPerJob)).toEqual([1, 1, 1]);
    expect([256, 384, 1_279].map(chunksPerJob)).toEqual([2, 3, 9]);
    expect([1_280, 2_000, 10_000].map(chunksPerJob)).toEqual([10, 10, MAX_CHUNKS_PER_JOB]);
  });

  it("lists an operation's job ids in chunk order, the last job shorter", () => {
    expect(chunkJobIds('op', 3)).toEqual(['op-chunk-0', 'op-chunk-1', 'op-chunk-2']);
    expect(chunkJobIds('op', 300)).toHaveLength(150);
    expect(chunkJobIds('op', 2_005).slice(-2)).toEqual(['op-chunk-1990', 'op-chunk-2000']);
    expect(chunkJobIds('op', 0)).toEqual([]);
  });

  it('names every chunk of a job by the job: the id of the first', () => {
    expect([20, 21, 29, 30].map((i) => chunkJobId('op-1', i, 10))).toEqual([
      'op-1-chunk-20',
      'op-1-chunk-20',
      'op-1-chunk-20',
      'op-1-chunk-30',
    ]);
  });

  it('plans jobs of whole chunks that split back into the chunks planned one by one', async () => {
    const items = Array.from({ length: 2_345 }, (_, i) => `m${i}`);
    const jobs = await collect(planChunkJobs(items, 100, 10));
    expect(jobs.map((j) => [j.chunkIndex, j.offset, j.items.length])).toEqual([
      [0, 0, 1_000],
      [10, 1_000, 1_000],
      [20, 2_000, 345],
    ]);
    const fromJobs = jobs.flatMap((job) => chunksOfJob(job, 100));
    expect(fromJobs).toEqual(await collect(planChunks(items, 100)));
    // Cancel and retry find a chunk's job by its index alone.
    for (const job of jobs)
      for (const chunk of chunksOfJob(job, 100))
        expect(chunkJobId('op', chunk.chunkIndex, 10)).toBe(chunkJobId('op', job.chunkIndex, 10));
  });

  it('leaves a job of one chunk, or of no items, as it is', () => {
    const job = { chunkIndex: 3, offset: 300, items: ['a', 'b'] };
    expect(chunksOfJob(job, 100)).toEqual([job]);
    expect(chunksOfJob({ chunkIndex: 0, offset: 0, items: [] }, 100)).toEqual([
      { chunkIndex: 0, offset: 0, items: [] },
    ]);
  });
});

describe('payload hash', () => {
  it('ignores key order and the operation id, but not the content', () => {
    const a = { operationId: 'x', kind: 'sharing.set', enabled: true, memberIds: ['a', 'b'] };
    const b = { memberIds: ['a', 'b'], enabled: true, kind: 'sharing.set', operationId: 'y' };
    expect(payloadHash(a)).toBe(payloadHash(b));
    expect(payloadHash({ ...a, enabled: false })).not.toBe(payloadHash(a));
    expect(payloadHash({ ...a, memberIds: ['b', 'a'] })).not.toBe(payloadHash(a));
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe('{"a":[1,{"c":3,"d":2}],"b":1}');
  });

  it('stays the same from one release to the next: a re-publish after an upgrade is no conflict', () => {
    const operation = {
      kind: 'coupons.allocate',
      enterpriseId: 'E-1',
      couponId: 'C-1',
      allocations: [
        { memberId: 'm-2', amount: '1.50' },
        { amount: '2.00', memberId: 'm-1', note: undefined },
      ],
      nested: { z: [true, null, 3.5], a: 'é"\\' },
    };
    expect(canonicalJson(operation)).toBe(
      '{"allocations":[{"amount":"1.50","memberId":"m-2"},{"amount":"2.00","memberId":"m-1"}],' +
        '"couponId":"C-1","enterpriseId":"E-1","kind":"coupons.allocate","nested":{"a":"é\\"\\\\","z":[true,null,3.5]}}',
    );
    expect(payloadHash(operation)).toBe('c379be2e349c2792b5974875b4bc6c55e6127e8f9a62f49a47cf860c9d7dd693');
  });
});

describe('operation status', () => {
  const base = { chunksTotal: 3, chunksDone: 1, chunksFailed: 0, rejected: 0 };
  it('stays running while chunks are outstanding', () => {
    expect(statusAfterChunk(base)).toBe('running');
    expect(statusAfterChunk({ ...base, chunksTotal: null, chunksDone: 9 })).toBe('running');
  });
  it('settles on the last chunk', () => {
    expect(statusAfterChunk({ ...base, chunksDone: 3 })).toBe('completed');
    expect(statusAfterChunk({ ...base, chunksDone: 3, rejected: 1 })).toBe('completed_with_rejections');
    expect(statusAfterChunk({ ...base, chunksDone: 2, chunksFailed: 1 })).toBe('failed');
  });
});

describe('streaming payload hash', () => {
  it('equals the hash of the same operation sent whole', () => {
    const operation = {
      operationId: 'x',
      kind: 'sharing.set',
      enterpriseId: 'E',
      enabled: true,
      memberIds: ['a', 'b', 'c'],
    };
    const streamed = streamingPayloadHash(
      { kind: 'sharing.set', enterpriseId: 'E', enabled: true, operationId: 'x' },
      'memberIds',
    );
    for (const id of operation.memberIds) streamed.add(id);
    expect(streamed.digest()).toBe(payloadHash(operation));
    const allocations = [{ memberId: 'a', amount: '1.00' }];
    const whole = { kind: 'coupons.allocate', enterpriseId: 'E', couponId: 'C', allocations };
    const part = streamingPayloadHash({ kind: 'coupons.allocate', enterpriseId: 'E', couponId: 'C' }, 'allocations');
    part.add({ amount: '1.00', memberId: 'a' });
    expect(part.digest()).toBe(payloadHash(whole));
  });
});
