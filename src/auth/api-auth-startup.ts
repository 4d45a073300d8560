import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/schema.js';
import type { Logger } from '../logger.js';
import { countUsableKeys, createFirstKey } from './api-keys.sql.js';

export const ADMIN_KEY_FILE = 'admin-key';

export interface StartupContext {
  db: Kysely<Database>;
  config: Config;
  logger: Logger;
  /** Where the API listens. */
  url: string;
  /** Where the terminal's lines go (stderr). */
  say?: (line: string) => void;
}

/**
 * Says at every start how /v1 is protected. The quick start's modes (local, embedded) make an
 * admin key on a first start with none, show it once and keep it in `<data dir>/admin-key`,
 * readable by the user only; a configured deployment gets no key it did not ask for, and is told
 * how to make one.
 */
export async function announceApiAuth(context: StartupContext): Promise<void> {
  const { db, config, logger, url } = context;
  const say = context.say ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (!config.apiAuth) {
    logger.warn('API_AUTH=off: /v1 takes no key, anyone who reaches the port may publish, cancel and read');
    return;
  }
  if (config.runtimeMode === 'configured') {
    if ((await countUsableKeys(db)) === 0) {
      logger.warn(
        'no API key exists: /v1 answers 401 until one is made with `npx benefits keys create --name NAME --scope admin`',
      );
    }
    return;
  }
  const file = join(config.dataDir, ADMIN_KEY_FILE);
  const created = await createFirstKey(db, { name: 'admin (first start)', scopes: ['admin'], enterprises: [] });
  if (!created) return;
  await mkdir(config.dataDir, { recursive: true });
  await writeFile(file, `${created.key}\n`, { mode: 0o600 });
  // The key's text goes to the terminal once, never to the JSON log.
  say(`benefits: admin API key ${created.key}`);
  say(`benefits: kept in ${file} (mode 0600); it is shown only this once`);
  say(`benefits: API ${url}/v1, dashboard ${url}/dashboard, e.g.`);
  say(`  curl -H "Authorization: Bearer $(cat ${file})" ${url}/v1/enterprises/E1`);
  logger.info({ keyId: created.id, file }, 'admin API key created');
}
