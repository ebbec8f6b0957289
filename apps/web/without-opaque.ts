/**
 * The web app has no passphrase backups (no screen makes or restores one: the CLI and the Node SDK
 * do), so OPAQUE's client (@serenity-kit/opaque, ~150 KB gzipped of WebAssembly-in-JavaScript,
 * which the SDK loads on first use: packages/client/src/backup/backup-api.ts) is left out of the
 * build: the SDK's import of it resolves to a module that fails with a typed error. Every chunk the
 * build emits is then one the app can load (the web bench counts them all: bench/web.ts).
 */
import type { Plugin } from 'vite';

/** A Vite plugin that resolves the import `source` to a module whose code is `code`. */
export function replaceModule(name: string, source: string, code: string): Plugin {
  const id = `\0${name}`;
  return {
    name,
    enforce: 'pre',
    resolveId: (s) => (s === source ? id : null),
    load: (i) => (i === id ? code : null),
  };
}

export function withoutOpaque(): Plugin {
  return replaceModule(
    'blindrelay-without-opaque',
    '@serenity-kit/opaque',
    [
      "import { InvalidArgumentError } from '@blindrelay/client/errors';",
      "throw new InvalidArgumentError('passphrase backups are made and restored with the blindrelay CLI or the Node SDK, not in the web app');",
    ].join('\n'),
  );
}
