import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlLiteral } from '../../src/db/sql-literals.js';
import { databaseUrl } from '../support/servers.js';

// Postgres itself reads every literal back: no database of this file's own is needed, as
// nothing is written.
describe('SQL literals of the chunk path', () => {
  const client = new pg.Client({ connectionString: databaseUrl('postgres') });
  beforeAll(() => client.connect());
  afterAll(() => client.end());

  const readBack = async (literal: string, type: string) =>
    (await client.query<{ v: unknown }>(`SELECT ${literal}::${type} AS v`)).rows[0]!.v;

  // Postgres text cannot hold NUL; the chunk path's ids and codes are validated long before.
  const text = fc.string({ unit: 'binary' }).map((s) => s.replaceAll('\0', ''));

  it('reads back any text and any array of text, quotes, backslashes, braces and NULL-looking strings included', async () => {
    for (const tricky of ['', 'NULL', 'null', "it's", 'a\\b', '"q"', '{a,b}', ' sp ', '\\', "'\\'", "E'x'"]) {
      expect(await readBack(sqlLiteral(tricky), 'text')).toBe(tricky);
      expect(await readBack(sqlLiteral([tricky, tricky]), 'text[]')).toEqual([tricky, tricky]);
    }
    await fc.assert(
      fc.asyncProperty(text, fc.array(fc.option(text, { nil: null }), { maxLength: 8 }), async (one, many) => {
        expect(await readBack(sqlLiteral(one), 'text')).toBe(one);
        expect(await readBack(sqlLiteral(many), 'text[]')).toEqual(many);
      }),
      { numRuns: 300 },
    );
  });

  it('writes numbers, booleans, dates and their arrays as their types read them, and refuses what is not a number', async () => {
    expect(await readBack(sqlLiteral(-42), 'int4')).toBe(-42);
    expect(await readBack(sqlLiteral([1, null, 3]), 'int8[]')).toEqual(['1', null, '3']);
    expect(await readBack(sqlLiteral([true, false]), 'bool[]')).toEqual([true, false]);
    expect(await readBack(sqlLiteral(false), 'bool')).toBe(false);
    expect(await readBack(sqlLiteral(null), 'text')).toBeNull();
    const when = new Date('2026-11-25T01:02:03.456Z');
    expect(await readBack(sqlLiteral(when), 'timestamptz')).toEqual(when);
    expect(() => sqlLiteral(Number.NaN)).toThrow(TypeError);
    expect(() => sqlLiteral(Number.POSITIVE_INFINITY)).toThrow(TypeError);
  });
});
