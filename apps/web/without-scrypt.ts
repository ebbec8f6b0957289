/**
 * No code path of the SDK calls `Primitives.scrypt` (it serves age passphrase stanzas:
 * packages/protocol/src/age/scrypt-recipient.ts, which the CLI's and Node's age tooling use), yet
 * the web primitives object (packages/protocol/src/primitives/web.ts) holds it, so the bundler keeps
 * @noble/hashes' scrypt and the PBKDF2 it needs (~4 KB minified, ~1.7 KB gzipped). The web build
 * resolves that module to one whose `scryptAsync` rejects with a typed error, so nothing the app
 * can load carries code it never runs (the web bench counts every chunk: bench/web.ts).
 */
import type { Plugin } from 'vite';
import { replaceModule } from './without-opaque.js';

export function withoutScrypt(): Plugin {
  return replaceModule(
    'blindrelay-without-scrypt',
    '@noble/hashes/scrypt.js',
    [
      "import { InvalidArgumentError } from '@blindrelay/client/errors';",
      'export async function scryptAsync() {',
      "  throw new InvalidArgumentError('age passphrase (scrypt) files are read and written with the blindrelay CLI or the Node SDK, not in the web app');",
      '}',
    ].join('\n'),
  );
}
