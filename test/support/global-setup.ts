import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { sql } from 'kysely';
import { migrateToLatest } from '../../src/db/migrate.js';
import { adminDb, assertServersReachable, databaseUrl, TEMPLATE_DATABASE } from './servers.js';

const MIGRATIONS = new URL('../../src/db/migrations/', import.meta.url);
const TEMPLATE_LOCK = 72_410_001;

/** Changes whenever a migration file does, so a stale template is rebuilt. */
async function migrationsFingerprint(): Promise<string> {
  const hash = createHash('sha256');
  for (const name of (await readdir(MIGRATIONS)).sort())
    hash.update(name).update(await readFile(new URL(name, MIGRATIONS)));
  return hash.digest('hex');
}

/**
 * One migrated template; every test file copies it into a database of its own. Each test project
 * runs this setup, possibly at once: an advisory lock makes one build it and the others reuse it.
 */
export default async function setup(): Promise<void> {
  await assertServersReachable();
  const fingerprint = await migrationsFingerprint();
  const admin = adminDb();
  try {
    await sql`SELECT pg_advisory_lock(${TEMPLATE_LOCK})`.execute(admin);
    if (!(await templateMatches(fingerprint))) {
      await sql`DROP DATABASE IF EXISTS ${sql.id(TEMPLATE_DATABASE)} WITH (FORCE)`.execute(admin);
      await sql`CREATE DATABASE ${sql.id(TEMPLATE_DATABASE)}`.execute(admin);
      const template = adminDb(databaseUrl(TEMPLATE_DATABASE));
      try {
        await migrateToLatest(template);
        await sql`CREATE TABLE test_template_fingerprint (fingerprint text NOT NULL)`.execute(template);
        await sql`INSERT INTO test_template_fingerprint VALUES (${fingerprint})`.execute(template);
      } finally {
        await template.destroy();
      }
    }
  } finally {
    await sql`SELECT pg_advisory_unlock(${TEMPLATE_LOCK})`.execute(admin).catch(() => {});
    await admin.destroy();
  }
}

async function templateMatches(fingerprint: string): Promise<boolean> {
  const template = adminDb(databaseUrl(TEMPLATE_DATABASE));
  try {
    const { rows } = await sql<{ fingerprint: string }>`SELECT fingerprint FROM test_template_fingerprint`.execute(
      template,
    );
    return rows[0]?.fingerprint === fingerprint;
  } catch {
    return false; // no template yet, or one from before fingerprints: rebuild it
  } finally {
    await template.destroy();
  }
}
