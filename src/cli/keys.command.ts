import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Kysely } from 'kysely';
import { createKey, type KeyListing, listKeys, revokeKey } from '../auth/api-keys.sql.js';
import { isScope, SCOPES, type Scope } from '../auth/api-key.js';
import { loadConfig } from '../config.js';
import { enterpriseIdSchema } from '../contract/index.js';
import { createDatabase } from '../db/database.js';
import type { Database } from '../db/schema.js';
import { resolveClientEnv } from '../runtime/runtime-mode.js';

async function withDatabase<T>(use: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const config = loadConfig(await resolveClientEnv(process.env));
  const db = createDatabase({ connectionString: config.databaseUrl, poolSize: 1, onError: () => {} });
  try {
    return await use(db);
  } finally {
    await db.destroy();
  }
}

function scope(value: string, previous: Scope[] = []): Scope[] {
  if (!isScope(value)) throw new InvalidArgumentError(`${value} is not a scope: ${SCOPES.join(', ')}`);
  return [...previous, value];
}

function enterpriseId(value: string, previous: string[] = []): string[] {
  const parsed = enterpriseIdSchema.safeParse(value);
  if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues[0]?.message ?? 'not an enterprise id');
  return [...previous, parsed.data];
}

const time = (value: Date | null) => (value ? value.toISOString() : '-');

function listingLine(key: KeyListing): string {
  const enterprises = key.enterprises?.length ? key.enterprises.join(',') : '*';
  const state = key.revoked_at ? `revoked ${time(key.revoked_at)}` : 'active';
  return [
    key.id,
    key.name,
    key.scopes.join(','),
    enterprises,
    time(key.created_at),
    time(key.last_used_at),
    state,
  ].join('\t');
}

/** `benefits keys create|list|revoke`: API keys for the HTTP API, straight in its database. */
export function registerKeysCommand(program: Command, run: (code: number) => void): void {
  const keys = program.command('keys').description('manage the API keys of the HTTP API (shown once, stored hashed)');
  keys
    .command('create')
    .description('create a key and print it once: it cannot be shown again')
    .requiredOption('--name <name>', 'what the key is for, e.g. the system that will use it')
    .addOption(
      new Option('--scope <scope>', `what it may do, repeatable: ${SCOPES.join(', ')} (admin: everything)`)
        .argParser(scope)
        .makeOptionMandatory(),
    )
    .option('--enterprise <id>', 'an enterprise it may act for, repeatable (default: every one)', enterpriseId)
    .option('--json', 'print JSON')
    .action(async (flags: { name: string; scope: Scope[]; enterprise?: string[]; json?: boolean }) => {
      const scopes = [...new Set(flags.scope)];
      const enterprises = [...new Set(flags.enterprise ?? [])];
      const created = await withDatabase((db) => createKey(db, { name: flags.name, scopes, enterprises }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ ...created, name: flags.name, scopes, enterprises })}\n`);
      } else {
        process.stderr.write(`created ${created.id}; the key is shown only now:\n`);
        process.stdout.write(`${created.key}\n`);
      }
      run(0);
    });
  keys
    .command('list')
    .description('list the keys (never the keys themselves): id, name, scopes, enterprises, created, last used, state')
    .option('--json', 'print NDJSON')
    .action(async (flags: { json?: boolean }) => {
      const listed = await withDatabase(listKeys);
      for (const key of listed) process.stdout.write(`${flags.json ? JSON.stringify(key) : listingLine(key)}\n`);
      run(0);
    });
  keys
    .command('revoke <id>')
    .description('revoke a key: every API process refuses it from its next request')
    .action(async (id: string) => {
      const found = await withDatabase((db) => revokeKey(db, id));
      if (!found) process.stderr.write(`no key ${id}\n`);
      else process.stderr.write(`revoked ${id}\n`);
      run(found ? 0 : 1);
    });
}
