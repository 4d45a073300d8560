import { type Kysely, sql } from 'kysely';

/**
 * `chunk_guard(ok, message)` fails the statement that calls it, with SQLSTATE BM001, unless `ok`.
 * A chunk that wrote on the strength of an unlocked read calls it to abort when the state it read
 * has moved (`src/db/chunk-transaction.ts`): its transaction rolls back, and the chunk runs again the
 * locking way. A plain SQL statement has no other way to stop the statements queued behind it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION chunk_guard(ok boolean, message text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'BM001', MESSAGE = message;
      END IF;
    END $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION chunk_guard(boolean, text)`.execute(db);
}
