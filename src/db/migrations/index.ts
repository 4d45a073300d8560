import type { Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001-core-pipeline.js';

/** A static list, so tsx, vitest and a bundled build all find the same migrations. */
const migrations: Record<string, Migration> = {
  '0001-core-pipeline': m0001,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
