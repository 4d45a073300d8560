import { sql } from 'kysely';
import { migrateToLatest } from '../../src/db/migrate.js';
import { adminDb, assertServersReachable, databaseUrl, templateDatabase } from './servers.js';

const TEMPLATE_LOCK = 72_410_001;

/**
 * One migrated template; every test file copies it into a database of its own. Each test project
 * runs this setup, possibly at once: an advisory lock makes one build it and the others reuse it.
 * Its name changes with the migrations, so a template is built once and never rebuilt under the
 * feet of a run on other migrations.
 */
export default async function setup(): Promise<void> {
  await assertServersReachable();
  const name = await templateDatabase();
  const admin = adminDb();
  try {
    await sql`SELECT pg_advisory_lock(${TEMPLATE_LOCK})`.execute(admin);
    if (!(await templateComplete(name))) {
      await sql`DROP DATABASE IF EXISTS ${sql.id(name)} WITH (FORCE)`.execute(admin);
      await sql`CREATE DATABASE ${sql.id(name)}`.execute(admin);
      const template = adminDb(databaseUrl(name));
      try {
        await migrateToLatest(template);
        // Written last: a template without it was cut off while it was built.
        await sql`CREATE TABLE test_template_complete ()`.execute(template);
      } finally {
        await template.destroy();
      }
    }
  } finally {
    await sql`SELECT pg_advisory_unlock(${TEMPLATE_LOCK})`.execute(admin).catch(() => {});
    await admin.destroy();
  }
}

async function templateComplete(name: string): Promise<boolean> {
  const template = adminDb(databaseUrl(name));
  try {
    await sql`SELECT FROM test_template_complete`.execute(template);
    return true;
  } catch {
    return false; // no template yet, or one cut off while it was built: build it
  } finally {
    await template.destroy();
  }
}
