import type { Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001-core-pipeline.js';
import * as m0002 from './0002-coupons.js';

/** A static list, so tsx, vitest and a bundled build all find the same migrations. */
const migrations: Record<string, Migration> = {
  '0001-core-pipeline': m0001,
  '0002-coupons': m0002,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
