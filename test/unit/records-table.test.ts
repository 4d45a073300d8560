import { describe, expect, it } from 'vitest';
import { recordsTable } from '../../src/db/records.js';
import { compiler } from '../../src/db/statements.js';
import { sql } from 'kysely';

describe('a list of records as a table', () => {
  it('sends one array a column, typed, in the order the columns are named, with the rows as given', () => {
    const table = recordsTable(
      [
        { id: 'a', on: true, n: 1 },
        { id: 'b', on: null, n: 2 },
      ],
      { id: 'text', on: 'bool', n: 'int8' },
      'r',
      'position',
    );
    const compiled = sql`SELECT * FROM ${table}`.compile(compiler);
    expect(compiled.sql).toBe(
      'SELECT * FROM unnest($1::text[], $2::bool[], $3::int8[]) WITH ORDINALITY AS "r"("id", "on", "n", "position")',
    );
    expect(compiled.parameters).toEqual([
      ['a', 'b'],
      [true, null],
      [1, 2],
    ]);
  });
});
