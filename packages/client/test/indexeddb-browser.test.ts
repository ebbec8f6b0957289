/**
 * IndexedDbStorage (the web app's profile storage) in headless Chromium: files sealed under a
 * non-extractable AES-GCM key (no plaintext in IndexedDB, the key cannot be exported), shared by
 * two instances (tabs), tampering and swapped files refused with ERR_PROFILE_CORRUPT, bad names
 * refused, the Web Lock exclusive, erase deletes the database; and the passphrase vault on top
 * (no passphrase / wrong passphrase refused, the right one opens). Chromium as in the other browser
 * tests (BLINDRELAY_CHROMIUM, /usr/bin/chromium); skipped loudly without it, failing under
 * BLINDRELAY_REQUIRE_SERVICES=1.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, findChromium } from '../../../apps/web/test/chromium.js';

const here = dirname(fileURLToPath(import.meta.url));
const chromiumPath = findChromium();
if (!chromiumPath) {
  if (process.env.BLINDRELAY_REQUIRE_SERVICES === '1') {
    describe('IndexedDB storage (required by BLINDRELAY_REQUIRE_SERVICES=1)', () => {
      it('needs a Chromium executable', () => {
        throw new Error('browser tests are required but no Chromium was found (BLINDRELAY_CHROMIUM, /usr/bin/chromium)');
      });
    });
  } else {
    console.warn(`\n${'!'.repeat(100)}\n!!! INDEXEDDB BROWSER TEST SKIPPED: no Chromium (BLINDRELAY_CHROMIUM, /usr/bin/chromium)\n${'!'.repeat(100)}\n`);
  }
}

describe.skipIf(!chromiumPath)('IndexedDbStorage in headless Chromium', () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  const call = <T>(f: 'storage' | 'passphrase'): Promise<T> =>
    page.evaluate((f) => (globalThis as unknown as { idb: Record<string, () => Promise<unknown>> }).idb[f]?.(), f) as Promise<T>;

  beforeAll(async () => {
    const out = await build({
      entryPoints: [join(here, 'browser', 'indexeddb-entry.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      logLevel: 'silent',
    });
    const script = out.outputFiles[0]?.text ?? '';
    const html =
      '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="/entry.js"></script></head><body></body></html>';
    server = createServer((req, res) => {
      const js = req.url === '/entry.js';
      res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html' });
      res.end(js ? script : html);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { waitUntil: 'load' });
    await page.waitForFunction(() => 'idb' in globalThis);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('seals every file under a non-extractable key, refuses tampering, locks, erases', async () => {
    const r = await call<Record<string, unknown>>('storage');
    expect(r).toEqual({
      before: false,
      after: true,
      back: '{"secret":"SEED-CANARY-0123456789"}',
      other: '{"secret":"SEED-CANARY-0123456789"}',
      plainInDb: false,
      missing: null,
      badName: 'ERR_INVALID_ARGUMENT',
      createAgain: 'ERR_PROFILE_EXISTS',
      tampered: 'ERR_PROFILE_CORRUPT',
      swapped: 'ERR_PROFILE_CORRUPT',
      order: ['in1', 'out1', 'in2', 'out2'],
      extractable: false,
      algorithm: 'AES-GCM',
      usages: ['encrypt', 'decrypt'],
      exported: 'InvalidAccessError',
      erased: true,
    });
  });

  it('the passphrase lock: required, a wrong one refused, the right one opens', async () => {
    expect(await call('passphrase')).toEqual({ none: 'ERR_PASSPHRASE_REQUIRED', wrong: 'ERR_WRONG_PASSPHRASE', right: 'ok' });
  });
});
