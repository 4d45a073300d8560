import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parameterText } from '../../src/db/parameter-text.js';
import { databaseUrl } from '../support/servers.js';

// Postgres itself reads every parameter back: no database of this file's own is needed, as
// nothing is written.
describe('parameters of the chunk path, as text', () => {
  const client = new pg.Client({ connectionString: databaseUrl('postgres') });
  beforeAll(() => client.connect());
  afterAll(() => client.end());

  const readBack = async (value: Parameters<typeof parameterText>[0], type: string) =>
    (await client.query<{ v: unknown }>(`SELECT $1::${type} AS v`, [parameterText(value)])).rows[0]!.v;

  // Postgres text cannot hold NUL; the chunk path's ids and codes are validated long before.
  const text = fc.string({ unit: 'binary' }).map((s) => s.replaceAll('\0', ''));

  it('reads back any text and any array of text, quotes, backslashes, braces and NULL-looking strings included', async () => {
    for (const tricky of ['', 'NULL', 'null', "it's", 'a\\b', '"q"', '{a,b}', ' sp ', '\\', "'\\'", "E'x'"]) {
      expect(await readBack(tricky, 'text')).toBe(tricky);
      expect(await readBack([tricky, tricky], 'text[]')).toEqual([tricky, tricky]);
    }
    expect(await readBack([], 'text[]')).toEqual([]);
    await fc.assert(
      fc.asyncProperty(text, fc.array(fc.option(text, { nil: null }), { maxLength: 8 }), async (one, many) => {
        expect(await readBack(one, 'text')).toBe(one);
        expect(await readBack(many, 'text[]')).toEqual(many);
      }),
      { numRuns: 300 },
    );
  });

  it('writes numbers, booleans, dates and their arrays as their types read them, and refuses what is not a number', async () => {
    expect(await readBack(-42, 'int4')).toBe(-42);
    expect(await readBack([1, null, 3], 'int8[]')).toEqual(['1', null, '3']);
    expect(await readBack([true, false], 'bool[]')).toEqual([true, false]);
    expect(await readBack([true, null], 'bool[]')).toEqual([true, null]);
    expect(await readBack([7, 8], 'int4[]')).toEqual([7, 8]);
    expect(await readBack(false, 'bool')).toBe(false);
    expect(await readBack(null, 'text')).toBeNull();
    const when = new Date('2026-11-25T01:02:03.456Z');
    expect(await readBack(when, 'timestamptz')).toEqual(when);
    expect(() => parameterText(Number.NaN)).toThrow(TypeError);
    expect(() => parameterText(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => parameterText([1, Number.NaN])).toThrow(TypeError);
  });
});
