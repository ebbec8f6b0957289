/**
 * The key backup in headless Chromium (docs/RECOVERY.md): the recovery code, the blob and the
 * wrapped key on the Web primitives, and OPAQUE's WebAssembly (Argon2id inside) in the page;
 * a backup made in the browser opens in Node and the other way round, and the passphrase wrap key
 * derived from an OPAQUE export key is the same on both. Chromium as in the protocol's browser
 * test (BLINDRELAY_CHROMIUM, /usr/bin/chromium); skipped loudly without it, failing under
 * BLINDRELAY_REQUIRE_SERVICES=1.
 */
import { accessSync, constants } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeSecrets, openBackup, passphraseWrapKey, sealBackup, unwrapBackupKey, wrapBackupKey } from '../src/backup/backup-format.js';
import { generateRecoveryCode, parseRecoveryCode } from '../src/backup/recovery-code.js';
import { fromBase64url, toBase64url } from '../src/base64url.js';
import { p } from './devices.js';

const here = dirname(fileURLToPath(import.meta.url));
const candidates = [process.env.BLINDRELAY_CHROMIUM, '/usr/bin/chromium'].filter((c): c is string => !!c);
const chromiumPath = candidates.find((c) => {
  try {
    accessSync(c, constants.X_OK);
    return true;
  } catch {
    return false;
  }
});
const required = process.env.BLINDRELAY_REQUIRE_SERVICES === '1';
if (!chromiumPath) {
  if (required) {
    describe('backup in the browser (required by BLINDRELAY_REQUIRE_SERVICES=1)', () => {
      it('needs a Chromium executable', () => {
        throw new Error('browser tests are required but no Chromium was found (BLINDRELAY_CHROMIUM, /usr/bin/chromium)');
      });
    });
  } else {
    console.warn(`\n${'!'.repeat(100)}\n!!! BACKUP BROWSER TEST SKIPPED: no Chromium (BLINDRELAY_CHROMIUM, /usr/bin/chromium)\n${'!'.repeat(100)}\n`);
  }
}

type Api = Record<string, (...args: unknown[]) => Promise<unknown>>;

describe.skipIf(!chromiumPath)('key backup in headless Chromium', () => {
  let server: Server;
  let browser: Browser;
  let page: Page;
  const call = <T>(f: string, ...a: unknown[]): Promise<T> =>
    page.evaluate(({ f, a }) => ((globalThis as unknown as { backup: Api }).backup[f] as (...x: unknown[]) => Promise<unknown>)(...a), { f, a }) as Promise<T>;

  beforeAll(async () => {
    const out = await build({
      entryPoints: [join(here, 'browser', 'backup-entry.ts')],
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
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { waitUntil: 'load' });
    await page.waitForFunction(() => 'backup' in globalThis);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('a code backup made in the browser opens in Node, and one made in Node opens in the browser', async () => {
    const b = await call<{ code: string; accessSecret: string; wrapped: string; blob: string }>('codeBackup', 'alice');
    const s = await codeSecrets(p, parseRecoveryCode(b.code), 'alice');
    expect(toBase64url(s.accessSecret)).toBe(b.accessSecret);
    const key = await unwrapBackupKey(p, s.wrapKey, 'code', 'alice', fromBase64url(b.wrapped));
    expect((await openBackup(p, key, 'alice', fromBase64url(b.blob))).files).toHaveLength(1);

    const code = generateRecoveryCode(p);
    const mine = await codeSecrets(p, code.canonical, 'alice');
    const backupKey = p.randomBytes(32);
    const masterSeed = p.randomBytes(32);
    const blob = await sealBackup(p, backupKey, { user: 'alice', masterSeed, contacts: [], files: [], createdAt: 1 });
    const wrapped = await wrapBackupKey(p, mine.wrapKey, 'code', 'alice', backupKey);
    const opened = await call<{ masterSeed: string }>('openCodeBackup', 'alice', code.formatted, toBase64url(wrapped), toBase64url(blob));
    expect(opened.masterSeed).toBe(toBase64url(masterSeed));
  });

  it('runs OPAQUE (Argon2id 64 MiB, 3 passes) in the page: the right passphrase logs in, a wrong one does not', async () => {
    const r = await call<{ registerMs: number; sameExportKey: boolean; wrongRefused: boolean; exportKey: string; wrapKey: string }>(
      'opaqueRoundTrip',
      'a passphrase typed in a browser',
    );
    expect(r.sameExportKey).toBe(true);
    expect(r.wrongRefused).toBe(true);
    // The same wrap key as Node derives from that export key.
    expect(toBase64url(await passphraseWrapKey(p, fromBase64url(r.exportKey), 'alice'))).toBe(r.wrapKey);
    console.info(`OPAQUE registration in Chromium (Argon2id 64 MiB, t=3, p=4, WASM): ${r.registerMs.toFixed(0)} ms`);
  }, 60_000);
});
