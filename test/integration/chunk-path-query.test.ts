import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolOf } from '../../src/db/database.js';
import { pipelined } from '../../src/db/pipeline.js';
import { BEGIN, COMMIT, namedStatement, type NamedQuery, plain } from '../../src/db/statements.js';
import { checkChunkUnapplied } from '../../src/operations/chunk.sql.js';
import { type Harness, startHarness } from '../support/harness.js';

// The chunk path's round trips: named statements sent in pg's pipeline mode, written at once.
// Workers stay off: the statements are sent by hand, on one client.
let h: Harness;

beforeAll(async () => {
  h = await startHarness('chunk_path_query', { workers: false });
});
afterAll(async () => h?.close());

async function onOneClient<T>(
  run: (send: (queries: readonly NamedQuery<unknown>[]) => Promise<unknown[][]>) => Promise<T>,
) {
  const client = await poolOf(h.service.db).connect();
  try {
    return await run((queries) => pipelined(client, queries));
  } finally {
    client.release();
  }
}

const echo = namedStatement(
  'test_echo',
  (text: string, flag: boolean | null, n: number) =>
    sql<{
      text: string;
      flag: boolean | null;
      n: number;
    }>`SELECT ${text}::text AS text, ${flag}::bool AS flag, ${n}::int8 AS n`,
);

describe('statements pipelined on one client', () => {
  it('answers one row set per statement, in order, BEGIN and COMMIT included, and reads no parameter as SQL', async () => {
    const rows = await onOneClient((send) =>
      send([BEGIN, checkChunkUnapplied("x'); DROP TABLE operations; --\\", 0), plain('SELECT 2 AS two'), COMMIT]),
    );
    expect(rows).toEqual([[], [], [{ two: 2 }], []]);
    expect(await sql`SELECT count(*)::int AS n FROM operations`.execute(h.service.db)).toMatchObject({
      rows: [{ n: 0 }],
    });
  });

  it('binds a named statement by name again with other values', async () => {
    const rows = await onOneClient((send) => send([echo('a,"b"', null, 1), echo('{}', true, 2 ** 40)]));
    expect(rows).toEqual([[{ text: 'a,"b"', flag: null, n: 1 }], [{ text: '{}', flag: true, n: 2 ** 40 }]]);
  });

  it('fails on the first statement that fails; the rest of its transaction does nothing and the client goes on', async () => {
    await onOneClient(async (send) => {
      await expect(
        send([BEGIN, plain('SELECT 1 / 0'), plain('CREATE TABLE never_created (id int)'), COMMIT]),
      ).rejects.toMatchObject({ code: '22012' });
      // COMMIT of a failed transaction rolled it back: the client is outside any transaction.
      expect(await send([BEGIN, plain('SELECT 3 AS three'), COMMIT])).toEqual([[], [{ three: 3 }], []]);
    });
    const created = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'never_created'`.execute(h.service.db);
    expect(created.rows[0]!.n).toBe(0);
  });
});
