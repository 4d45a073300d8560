import { sql } from 'kysely';
import { migrateToLatest } from '../../src/db/migrate.js';
import { adminDb, assertServersReachable, databaseUrl, TEMPLATE_DATABASE } from './servers.js';

/** One migrated template per run; every test file copies it into a database of its own. */
export default async function setup(): Promise<void> {
  await assertServersReachable();
  const admin = adminDb();
  try {
    await sql`DROP DATABASE IF EXISTS ${sql.id(TEMPLATE_DATABASE)} WITH (FORCE)`.execute(admin);
    await sql`CREATE DATABASE ${sql.id(TEMPLATE_DATABASE)}`.execute(admin);
  } finally {
    await admin.destroy();
  }
  const template = adminDb(databaseUrl(TEMPLATE_DATABASE));
  try {
    await migrateToLatest(template);
  } finally {
    await template.destroy();
  }
}
