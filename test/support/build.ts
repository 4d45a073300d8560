import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { adminDb } from './servers.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STAMP = join(ROOT, 'dist', '.built-from');
const BUILD_LOCK = 72_410_002;
const run = promisify(execFile);

async function sourcesFingerprint(): Promise<string> {
  const hash = createHash('sha256');
  const files = (await readdir(join(ROOT, 'src'), { recursive: true })).filter((f) => f.endsWith('.ts')).sort();
  for (const file of [...files.map((f) => join('src', f)), 'tsconfig.json', 'tsconfig.build.json', 'package.json'])
    hash.update(file).update(await readFile(join(ROOT, file)));
  return hash.digest('hex');
}

/**
 * `npm run build`, unless dist/ was built from the sources as they are. Test files that need the
 * compiled build call this; an advisory lock keeps two of them from building into dist/ at once.
 */
export async function ensureBuild(): Promise<void> {
  const fingerprint = await sourcesFingerprint();
  const admin = adminDb();
  try {
    await sql`SELECT pg_advisory_lock(${BUILD_LOCK})`.execute(admin);
    const built = await readFile(STAMP, 'utf8').catch(() => '');
    if (built === fingerprint) return;
    await run('npm', ['run', 'build'], { cwd: ROOT, timeout: 180_000 });
    await writeFile(STAMP, fingerprint);
  } finally {
    await sql`SELECT pg_advisory_unlock(${BUILD_LOCK})`.execute(admin).catch(() => {});
    await admin.destroy();
  }
}
