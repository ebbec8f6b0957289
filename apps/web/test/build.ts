/**
 * The web app's Vite build for tests and the web bench. `ensureWebBuild` reuses apps/web/dist when
 * it was built from exactly the current sources (a SHA-256 over the app's and the SDK's source
 * files, kept in dist/.sources), and otherwise builds into a fresh directory and swaps it in, so
 * tests running side by side never see a half-written build.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

export const APP_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPO = join(APP_ROOT, '..', '..');
export const DEFAULT_DIST = join(APP_ROOT, 'dist');

export async function buildWebApp(outDir: string): Promise<void> {
  await build({ root: APP_ROOT, configFile: join(APP_ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir, emptyOutDir: true } });
}

function sourcesDigest(): string {
  const h = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else {
        h.update(path.slice(REPO.length));
        h.update(readFileSync(path));
      }
    }
  };
  for (const d of ['apps/web/src', 'packages/client/src', 'packages/protocol/src']) walk(join(REPO, d));
  for (const f of ['apps/web/index.html', 'apps/web/vite.config.ts', 'package-lock.json']) h.update(readFileSync(join(REPO, f)));
  return h.digest('hex');
}

/** apps/web/dist, built from the current sources (reused when it already is). */
export async function ensureWebBuild(): Promise<string> {
  const digest = sourcesDigest();
  const stamp = join(DEFAULT_DIST, '.sources');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return DEFAULT_DIST;
  const fresh = `${DEFAULT_DIST}.${process.pid}.${Date.now()}`;
  await buildWebApp(fresh);
  writeFileSync(join(fresh, '.sources'), digest);
  const old = `${fresh}.old`;
  if (existsSync(DEFAULT_DIST)) renameSync(DEFAULT_DIST, old);
  renameSync(fresh, DEFAULT_DIST);
  rmSync(old, { recursive: true, force: true });
  return DEFAULT_DIST;
}
