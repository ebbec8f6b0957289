/**
 * A SHA-256 over everything the web build is made from (the app's and the SDK's sources, the
 * config, the lockfile). The build writes it to dist/.sources; tests and the bench reuse a build
 * whose digest matches (test/build.ts) instead of building again.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'vite';

const APP = dirname(fileURLToPath(import.meta.url));
const REPO = join(APP, '..', '..');

export function sourcesDigest(): string {
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
  for (const f of [
    'apps/web/index.html',
    'apps/web/vite.config.ts',
    'apps/web/sri.ts',
    'apps/web/without-opaque.ts',
    'apps/web/without-scrypt.ts',
    'apps/web/sources-digest.ts',
    'package-lock.json',
  ])
    h.update(readFileSync(join(REPO, f)));
  return h.digest('hex');
}

/** Writes dist/.sources after the build (the digest of the sources it was made from). */
export function sourcesStamp(): Plugin {
  return {
    name: 'blindrelay-sources-stamp',
    apply: 'build',
    writeBundle(options) {
      writeFileSync(join(options.dir as string, '.sources'), sourcesDigest());
    },
  };
}
