import type { Migration, MigrationProvider } from 'kysely';
import * as m0001 from './0001-core-pipeline.js';
import * as m0002 from './0002-coupons.js';
import * as m0003 from './0003-chunk-claim-without-foreign-key.js';
import * as m0004 from './0004-operation-progress-shards.js';
import * as m0005 from './0005-chunk-guard.js';
import * as m0006 from './0006-operation-claims.js';
import * as m0007 from './0007-packages-and-usage.js';
import * as m0008 from './0008-api-keys.js';
import * as m0009 from './0009-operation-items.js';
import * as m0010 from './0010-partitioned-history.js';

/** A static list, so tsx, vitest and a bundled build all find the same migrations. */
const migrations: Record<string, Migration> = {
  '0001-core-pipeline': m0001,
  '0002-coupons': m0002,
  '0003-chunk-claim-without-foreign-key': m0003,
  '0004-operation-progress-shards': m0004,
  '0005-chunk-guard': m0005,
  '0006-operation-claims': m0006,
  '0007-packages-and-usage': m0007,
  '0008-api-keys': m0008,
  '0009-operation-items': m0009,
  '0010-partitioned-history': m0010,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
