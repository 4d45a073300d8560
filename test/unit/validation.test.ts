import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { parseOperation } from '../../src/contract/parse-operation.js';
import { operationSchema } from '../../src/contract/index.js';
import { checkList, MAX_REPORTED_ISSUES } from '../../src/domain/validation.js';
import { InvalidPayloadError } from '../../src/errors.js';

const invalid = (input: unknown): InvalidPayloadError => {
  try {
    parseOperation(input);
  } catch (error) {
    if (error instanceof InvalidPayloadError) return error;
    throw error;
  }
  throw new Error('parsed');
};

describe('checkList', () => {
  it('returns every parsed item of a valid list', () => {
    const list = Array.from({ length: 2_500 }, (_, i) => `m${i}`);
    expect(checkList(z.string().min(1), list, 'ids')).toEqual({ ok: true, items: list });
  });

  it('stops at the slice where 100 problems are found, with their positions', () => {
    const list = ['ok', ...Array.from({ length: 1_000_000 }, () => '')];
    const result = checkList(z.string().min(1), list, 'ids');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toHaveLength(MAX_REPORTED_ISSUES);
    expect(result.issues[0]).toMatchObject({ path: 'ids.1' });
    expect(result.issues[99]).toMatchObject({ path: 'ids.100' });
    // One slice of a thousand checked, not a million.
    expect(result.issueCount).toBe(999);
  });
});

describe('parseOperation', () => {
  it('gives what the operation schema gives, for every kind of payload', () => {
    for (const payload of [
      { kind: 'members.associate', enterpriseId: 'E1', memberIds: ['m1', 'm2'] },
      { kind: 'sharing.set-default', enterpriseId: 'E1', shareWithNewMembers: true },
      { kind: 'coupons.allocate', enterpriseId: 'E1', couponId: 'C', allocations: [{ memberId: 'm', amount: '1.50' }] },
      { kind: 'coupons.revoke', enterpriseId: 'E1', couponId: 'C', revocations: [{ memberId: 'm' }], operationId: 'o' },
    ]) {
      expect(parseOperation(payload)).toEqual(operationSchema.parse(payload));
    }
  });

  it('reports the header and the items together, the first 100 and a count', () => {
    const error = invalid({ kind: 'members.associate', enterpriseId: '', memberIds: ['', 'm', ''], extra: 1 });
    expect(error.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['enterpriseId', '', 'memberIds.0', 'memberIds.2']),
    );
    const many = invalid({ kind: 'members.associate', enterpriseId: 'E', memberIds: new Array(5_000).fill(7) });
    expect(many.issues).toHaveLength(100);
    expect(many.issueCount).toBe(1_000);
    expect(many.message).toMatch(/and 900 more$/);
  });

  it('leaves an empty list, a missing one or an unknown kind to the schema', () => {
    expect(invalid({ kind: 'members.associate', enterpriseId: 'E', memberIds: [] }).issues[0]?.path).toBe('memberIds');
    expect(invalid({ kind: 'members.associate', enterpriseId: 'E' }).issues[0]?.path).toBe('memberIds');
    expect(invalid({ kind: 'nope', enterpriseId: 'E' }).issues[0]?.path).toBe('kind');
    expect(invalid(null).issues).toHaveLength(1);
  });
});
