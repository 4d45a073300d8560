import { type Kysely, Migrator } from 'kysely';
import { migrationProvider } from './migrations/index.js';

export class MigrationError extends Error {
  override name = 'MigrationError';
  readonly code = 'migration_failed';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new MigrationError(`migration ${failed} failed`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
