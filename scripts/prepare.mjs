// `npm run prepare`, which npm runs after `npm ci` in a checkout, when it installs this package from
// a git URL, and before `npx benefits` runs this package's own command. It builds dist/ only where
// the sources are (not in the image, not in an installed tarball) and only when dist/ is missing or
// older than them, so `npx benefits` does not compile the project every time it runs.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, URL } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const src = join(root, 'src');
const built = join(root, 'dist', 'main.js');

const newestSource = () =>
  Math.max(
    ...readdirSync(src, { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs),
    ...['tsconfig.json', 'tsconfig.build.json'].map((file) => statSync(join(root, file)).mtimeMs),
  );

if (existsSync(src) && (!existsSync(built) || statSync(built).mtimeMs < newestSource())) {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
}
