/**
 * Subresource Integrity (W3C SRI §3) for the built page: every script and stylesheet that
 * index.html names gets `integrity="sha384-…"` of the exact file written (hashed from disk after
 * Vite wrote the bundle), so the browser refuses an asset altered after the build (a CDN or cache
 * in front of the relay, a tampered static deployment). The page itself is not covered: whoever
 * serves index.html chooses the hashes (docs/THREAT-MODEL.md, "The web client").
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plugin } from 'vite';

export function subresourceIntegrity(): Plugin {
  return {
    name: 'blindrelay-sri',
    apply: 'build',
    enforce: 'post',
    writeBundle(options) {
      const dir = options.dir as string;
      const page = join(dir, 'index.html');
      const html = readFileSync(page, 'utf8').replace(
        /<(script|link)\b([^>]*?)\s(src|href)="\/(assets\/[^"]+)"([^>]*)>/g,
        (tag, el: string, before: string, attr: string, path: string, after: string) => {
          if (tag.includes('integrity=')) return tag;
          const integrity = `sha384-${createHash('sha384')
            .update(readFileSync(join(dir, path)))
            .digest('base64')}`;
          return `<${el}${before} ${attr}="/${path}" integrity="${integrity}"${after}>`;
        },
      );
      writeFileSync(page, html);
    },
  };
}
