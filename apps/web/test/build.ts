/**
 * The web app's Vite build for tests and the web bench. `ensureWebBuild` reuses apps/web/dist when
 * it was built from exactly the current sources (sources-digest.ts: the build writes the digest to
 * dist/.sources, also the one `npm ci` makes), and otherwise builds into a fresh directory and swaps it in, so
 * tests running side by side never see a half-written build.
 */
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { sourcesDigest } from '../sources-digest.js';

export const APP_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_DIST = join(APP_ROOT, 'dist');

export async function buildWebApp(outDir: string): Promise<void> {
  await build({ root: APP_ROOT, configFile: join(APP_ROOT, 'vite.config.ts'), logLevel: 'error', build: { outDir, emptyOutDir: true } });
}

/** apps/web/dist, built from the current sources (reused when it already is). */
export async function ensureWebBuild(): Promise<string> {
  const digest = sourcesDigest();
  const stamp = join(DEFAULT_DIST, '.sources');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return DEFAULT_DIST;
  const fresh = `${DEFAULT_DIST}.${process.pid}.${Date.now()}`;
  await buildWebApp(fresh);
  const old = `${fresh}.old`;
  if (existsSync(DEFAULT_DIST)) renameSync(DEFAULT_DIST, old);
  renameSync(fresh, DEFAULT_DIST);
  rmSync(old, { recursive: true, force: true });
  return DEFAULT_DIST;
}
