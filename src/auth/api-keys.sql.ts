import { type Kysely, sql } from 'kysely';
import type { ApiKeyRow, Database } from '../db/schema.js';
import { generateKey, hashKey, type Scope } from './api-key.js';

export interface NewKey {
  name: string;
  scopes: readonly Scope[];
  /** Empty: every enterprise. */
  enterprises: readonly string[];
}

/** A key as listed: everything but its digest. */
export type KeyListing = Omit<ApiKeyRow, 'key_hash'>;

/** Creates a key; its text is in the answer and nowhere else. */
export async function createKey(db: Kysely<Database>, key: NewKey): Promise<{ id: string; key: string }> {
  const created = generateKey();
  await db
    .insertInto('api_keys')
    .values({
      id: created.id,
      name: key.name,
      key_hash: hashKey(created.key),
      scopes: [...key.scopes],
      enterprises: key.enterprises.length > 0 ? [...key.enterprises] : null,
    })
    .execute();
  return created;
}

const BOOTSTRAP_LOCK = 72_410_021;

/**
 * Creates the key only when no usable key exists, under an advisory lock so two processes
 * starting at once make one; undefined when there was one already.
 */
export async function createFirstKey(
  db: Kysely<Database>,
  key: NewKey,
): Promise<{ id: string; key: string } | undefined> {
  return db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`.execute(tx);
    const existing = await tx.selectFrom('api_keys').select('id').where('revoked_at', 'is', null).executeTakeFirst();
    return existing ? undefined : createKey(tx, key);
  });
}

/** The key with this digest, revoked or not: one index lookup whatever the answer. */
export async function findKeyByHash(db: Kysely<Database>, keyHash: Buffer): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('api_keys').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
}

export async function listKeys(db: Kysely<Database>): Promise<KeyListing[]> {
  return db
    .selectFrom('api_keys')
    .select(['id', 'name', 'scopes', 'enterprises', 'created_at', 'last_used_at', 'revoked_at'])
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** Revokes the key; false when there is no such key. Revoking twice keeps the first time. */
export async function revokeKey(db: Kysely<Database>, id: string): Promise<boolean> {
  const row = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`coalesce(revoked_at, now())` })
    .where('id', '=', id)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

export async function touchKey(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ last_used_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function countUsableKeys(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('revoked_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
