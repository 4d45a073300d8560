import { describe, expect, it } from 'vitest';
import { chunkCount, chunkJobId, planChunks } from '../../src/domain/operations/chunk-plan.js';
import { statusAfterChunk } from '../../src/domain/operations/operation-status.js';
import { canonicalJson, payloadHash } from '../../src/domain/operations/payload-hash.js';

describe('chunk planning', () => {
  it('splits 1,050 items into 11 chunks of at most 100 keeping positions', () => {
    const items = Array.from({ length: 1050 }, (_, i) => `m${i}`);
    const chunks = [...planChunks(items, 100)];
    expect(chunks).toHaveLength(11);
    expect(chunkCount(1050, 100)).toBe(11);
    expect(chunks.every((c) => c.items.length <= 100)).toBe(true);
    expect(chunks[10]).toMatchObject({ chunkIndex: 10, offset: 1000 });
    expect(chunks[10]!.items).toHaveLength(50);
    expect(chunks.flatMap((c) => c.items)).toEqual(items);
  });

  it('rejects a nonsensical chunk size', () => {
    expect(() => [...planChunks(['a'], 0)]).toThrow(RangeError);
  });

  it('makes job ids BullMQ accepts (no colon) and that are the same every time', () => {
    expect(chunkJobId('op-1', 7)).toBe('op-1-chunk-7');
    expect(chunkJobId('op-1', 7)).not.toContain(':');
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
