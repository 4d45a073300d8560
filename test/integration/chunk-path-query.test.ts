import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkPathQuery } from '../../src/db/database.js';
import { claimChunk } from '../../src/db/operations.repository.js';
import { BEGIN, COMMIT, type StatementCall, unprepared } from '../../src/db/prepared-statements.js';
import type { Database } from '../../src/db/schema.js';
import { type Harness, startHarness } from '../support/harness.js';

// The chunk path's round trips: statements bound in the extended protocol and written at once,
// with one Sync. Workers stay off: the batches are sent by hand, on one connection.
let h: Harness;

beforeAll(async () => {
  h = await startHarness('chunk_path_query', { workers: false });
});
afterAll(async () => h?.close());

const sender = (conn: Kysely<Database>) => async (statements: StatementCall<unknown>[]) =>
  (await conn.executeQuery(chunkPathQuery(statements))).rows;

describe('a chunk path query', () => {
  it('answers one row set per statement, in order, BEGIN and COMMIT included, and reads no parameter as SQL', async () => {
    const rows = await h.service.db.connection().execute(async (conn) => {
      const send = sender(conn);
      return send([
        BEGIN,
        claimChunk.call("x'); DROP TABLE operations; --\\", 0),
        unprepared('SELECT 2 AS two'),
        COMMIT,
      ]);
    });
    expect(rows).toEqual([[], [], [{ two: 2 }], []]);
    expect(await sql`SELECT count(*)::int AS n FROM operations`.execute(h.service.db)).toMatchObject({
      rows: [{ n: 0 }],
    });
  });

  it('stops at the statement that fails, and leaves the connection usable once rolled back', async () => {
    await h.service.db.connection().execute(async (conn) => {
      const send = sender(conn);
      await expect(
        send([BEGIN, unprepared('SELECT 1 / 0'), unprepared('CREATE TABLE never_created (id int)'), COMMIT]),
      ).rejects.toMatchObject({ code: '22012' });
      // Still inside the failed transaction: everything up to the Sync was skipped, COMMIT included.
      await expect(send([unprepared('SELECT 1 AS one')])).rejects.toMatchObject({ code: '25P02' });
      await sql`ROLLBACK`.execute(conn);
      expect(await send([BEGIN, unprepared('SELECT 3 AS three'), COMMIT])).toEqual([[], [{ three: 3 }], []]);
    });
    const created = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'never_created'`.execute(h.service.db);
    expect(created.rows[0]!.n).toBe(0);
  });
});
