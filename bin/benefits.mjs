#!/usr/bin/env node
// The `benefits` command. In a checkout (src/ and tsx present) it runs the TypeScript sources, so
// it is never older than them; installed (a packed tarball, a git URL, the Docker image: no src/,
// no tsx) it runs the compiled build in dist/.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const root = new URL('../', import.meta.url);
const sources = new URL('src/cli/main.ts', root);
const compiled = new URL('dist/cli/main.js', root);

async function loadTsx() {
  try {
    return await import('tsx/esm/api');
  } catch {
    return null;
  }
}

const tsx = existsSync(sources) ? await loadTsx() : null;
let entry = compiled;
if (tsx) {
  tsx.register();
  entry = sources;
} else if (!existsSync(compiled)) {
  process.stderr.write('benefits: no compiled build in dist/: run `npm run build` first\n');
  process.exit(2);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv);
