/**
 * Browser tests: the session round trip in headless Debian Chromium, on the Web primitives, and
 * sessions between a Node device (node:crypto) and a browser device (WebCrypto).
 *
 * test/browser/entry.ts is bundled in memory with esbuild, served from an in-process HTTP server
 * on 127.0.0.1 (a secure context, so crypto.subtle exists), and driven with playwright-core.
 * Chromium comes from BLINDRELAY_CHROMIUM, /usr/bin/chromium or `chromium` on PATH. Without one the
 * suite is skipped with a loud warning, unless BLINDRELAY_REQUIRE_SERVICES=1, where it fails.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BlindrelayWindow, BrowserApi, PublishedUser } from './browser/entry.js';
import { lookupOf, makeUser, nodePrimitives } from './helpers.js';
import * as P from './internals.js';

const here = dirname(fileURLToPath(import.meta.url));

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** BLINDRELAY_CHROMIUM when set (and nothing else), else /usr/bin/chromium, else `chromium` on PATH. */
function findChromium(): { path: string | undefined; looked: string } {
  const fromEnv = process.env.BLINDRELAY_CHROMIUM;
  if (fromEnv) return { path: isExecutable(fromEnv) ? fromEnv : undefined, looked: `BLINDRELAY_CHROMIUM=${fromEnv}` };
  const candidates = [
    '/usr/bin/chromium',
    ...(process.env.PATH ?? '').split(delimiter).flatMap((d) => (d ? [join(d, 'chromium'), join(d, 'chromium-browser')] : [])),
  ];
  return { path: candidates.find(isExecutable), looked: '/usr/bin/chromium and chromium/chromium-browser on PATH' };
}

const found = findChromium();
const chromiumPath = found.path;
const required = process.env.BLINDRELAY_REQUIRE_SERVICES === '1';
const missingReason = `no Chromium executable found (looked at ${found.looked})`;

if (!chromiumPath && !required) {
  const bar = '!'.repeat(100);
  console.warn(
    `\n${bar}\n!!! BROWSER TESTS SKIPPED: ${missingReason}.\n` +
      '!!! The WebCrypto session round trip and the Node<->browser interop did NOT run.\n' +
      '!!! Install Debian chromium or set BLINDRELAY_CHROMIUM; set BLINDRELAY_REQUIRE_SERVICES=1 to make this a failure.\n' +
      `${bar}\n`,
  );
}

// Defined only when it must fail, so a normal run does not count a phantom skipped test.
if (!chromiumPath && required) {
  describe('browser tests (required by BLINDRELAY_REQUIRE_SERVICES=1)', () => {
    it('needs a Chromium executable', () => {
      throw new Error(`browser tests are required (BLINDRELAY_REQUIRE_SERVICES=1) but ${missingReason}`);
    });
  });
}

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>blindrelay browser test</title><link rel="icon" href="data:,">
<script type="module" src="/entry.js"></script></head><body></body></html>`;

async function bundleEntry(): Promise<string> {
  const result = await build({
    entryPoints: [join(here, 'browser', 'entry.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  const out = result.outputFiles[0];
  if (!out) throw new Error('esbuild produced no output');
  return out.text;
}

function serve(script: string): Promise<Server> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(PAGE);
    } else if (path === '/entry.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
      res.end(script);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const hex = P.toHex;

describe.skipIf(!chromiumPath)('browser (headless Chromium, Web primitives)', () => {
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page;
  /** Call `window.blindrelay[fn](...args)` in the page; arguments and result cross as JSON. */
  const call = <K extends keyof BrowserApi>(fn: K, ...args: Parameters<BrowserApi[K]>): Promise<Awaited<ReturnType<BrowserApi[K]>>> =>
    page.evaluate(({ f, a }) => ((window as unknown as BlindrelayWindow).blindrelay[f] as (...x: unknown[]) => Promise<unknown>)(...a), {
      f: fn,
      a: args as unknown[],
    }) as Promise<Awaited<ReturnType<BrowserApi[K]>>>;
  const pageErrors: string[] = [];
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    let t = performance.now();
    const script = await bundleEntry();
    timings.bundleMs = performance.now() - t;
    server = await serve(script);
    const { port } = server.address() as AddressInfo;
    t = performance.now();
    browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS, headless: true, timeout: 30_000 });
    timings.launchMs = performance.now() - t;
    page = await browser.newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.stack ?? e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(`console.error: ${m.text()}`);
    });
    page.on('requestfailed', (r) => pageErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('response', (r) => {
      if (r.status() >= 400) pageErrors.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    t = performance.now();
    await page.goto(`http://127.0.0.1:${port}/`, { waitUntil: 'load' });
    await page.waitForFunction(() => (window as unknown as BlindrelayWindow).blindrelayReady === true, undefined, { timeout: 10_000 });
    timings.loadMs = performance.now() - t;
  });

  afterEach(() => {
    // Any page error or console error fails the test that was running.
    const errors = pageErrors.splice(0);
    expect(errors, 'errors reported by the page').toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    const ms = Object.entries(timings)
      .map(([k, v]) => `${k}=${Math.round(v)}`)
      .join(' ');
    console.info(`browser tests: ${chromiumPath} ${ms}`);
  });

  it('runs in a secure context where WebCrypto works, and reports the curve backend', async () => {
    const env = await call('environment');
    console.info(
      `browser: ${env.userAgent}; native WebCrypto X25519=${env.native.x25519} Ed25519=${env.native.ed25519}; backend ${JSON.stringify(env.backend)}`,
    );
    expect(env.secureContext).toBe(true);
    expect(env.hasSubtle).toBe(true);
    expect(env.primitivesName).toBe('web');
    expect(env.backendsAgree).toBe(true);
    expect(env.backend.x25519).toBe(env.native.x25519 ? 'webcrypto' : 'noble');
    expect(env.backend.ed25519).toBe(env.native.ed25519 ? 'webcrypto' : 'noble');
    // No browser has ML-KEM, Argon2id or ChaCha20-Poly1305 in WebCrypto: @noble serves those.
    expect(env.providers).toEqual({
      mlkem768: '@noble/post-quantum',
      argon2id: '@noble/hashes',
      aesGcm: 'webcrypto',
      chacha20Poly1305: '@noble/ciphers',
      x25519: env.native.x25519 ? 'webcrypto' : '@noble/curves',
      ed25519: env.native.ed25519 ? 'webcrypto' : '@noble/curves',
    });
  });

  it.each([
    ['default (native where available)', false],
    ['forced @noble curves', true],
  ])('runs the full session round trip in the page: %s', async (_label, noble) => {
    const t = performance.now();
    const s = await call('roundTrip', { noble, rounds: 4 });
    timings[noble ? 'roundTripNobleMs' : 'roundTripMs'] = performance.now() - t;
    expect(s.primitives).toBe(noble ? 'web+noble' : 'web');
    if (noble) expect(s.backend).toEqual({ x25519: 'noble', ed25519: 'noble' });
    expect(s.messagesExchanged).toBe(1 + 2 * 4 + 3 + 1);
    expect(s.outOfOrderDelivered).toBe(3);
    expect(s.usedOneTimePreKeyId).toBe(100);
    expect(s.usedPqPreKeyId).toBe(1);
    expect(s.safetyNumbersEqual).toBe(true);
    expect(s.safetyNumber).toMatch(/^\d{5}( \d{5}){11}$/);
    expect(s.serializedStateBytes.alice).toBeGreaterThan(200);
    expect(s.transcript[0]).toBe('alice→bob hello bob');
    expect(s.transcript.at(-1)).toBe('bob→alice bye');
  });

  it('refuses small-order and non-canonical Ed25519 keys on both browser primitives, as on Node (L1)', async () => {
    const primitives = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'vectors', 'primitives.json'), 'utf8')) as {
      ed25519: { publicKey: string; message: string; signature: string }[];
      ed25519SmallOrder: { key: string }[];
      ed25519NonCanonical: { key: string }[];
      ed25519Forgery: string;
    };
    const weak = [...primitives.ed25519SmallOrder, ...primitives.ed25519NonCanonical].map((v) => v.key);
    const message = hex(P.utf8('any message at all'));
    const r = await call('ed25519Verify', weak, message, primitives.ed25519Forgery);
    expect(r.web).toEqual(weak.map(() => false));
    expect(r.noble).toEqual(weak.map(() => false));
    for (const key of weak) expect(await nodePrimitives.ed25519Verify(P.fromHex(key), P.fromHex(message), P.fromHex(primitives.ed25519Forgery))).toBe(false);
    console.info(`browser: WebCrypto on its own accepts the forgery under ${r.platform.filter((x) => x === true).length} of ${weak.length} weak keys`);
    // The control: a genuine RFC 8032 signature verifies on both.
    const t1 = primitives.ed25519[0] as { publicKey: string; message: string; signature: string };
    const ok = await call('ed25519Verify', [t1.publicKey], t1.message, t1.signature);
    expect([ok.web, ok.noble]).toEqual([[true], [true]]);
  });

  it('answers every flipped bit with the one DecryptError (ERR_DECRYPT) and keeps the state', async () => {
    const r = await call('tamper');
    expect(r.cases.length).toBe(10);
    for (const c of r.cases) {
      expect(c, c.where).toMatchObject({ name: 'DecryptError', code: 'ERR_DECRYPT', message: 'message could not be decrypted', isDecryptError: true });
    }
    expect(r.genuineStillDecrypts).toBe(true);
    expect(r.genuinePlaintext).toBe('genuine reply');
  });

  it.each([
    ['web', false],
    ['web+noble', true],
  ])('Node (node:crypto) starts a session with a browser device (%s) and both sides talk', async (_label, noble) => {
    const t = performance.now();
    const handle = `bob-${noble ? 'noble' : 'web'}`;
    // Bob lives in the browser: his private keys never leave the page.
    const bob = await call('createParty', handle, 'bob', { noble });
    const node = nodePrimitives;
    const alice = await makeUser(node, 'alice');
    const aliceKey = { user: 'alice', masterKey: hex(alice.master.publicKey) };

    // Alice (Node) verifies what the browser published against Bob's trusted master key.
    const list = await P.verifyDeviceList(node, P.fromHex(bob.deviceList), { user: 'bob', masterKey: P.fromHex(bob.masterKey) }, { now: Date.now() });
    const bundle = P.decodePreKeyBundle(P.fromHex(bob.bundle));
    await P.verifyPreKeyBundle(node, bundle, list.devices[0] as P.DeviceEntry, 'bob');
    let a = await P.initiateSession(node, { identity: alice.device.identity, certificate: alice.certificate }, bundle);
    const m1 = await P.encryptMessage(node, a, P.utf8('hello from node'));
    a = m1.state;
    expect(P.messageType(m1.message)).toBe(P.MESSAGE_TYPE_PREKEY);

    const accepted = await call('accept', handle, hex(m1.message), aliceKey);
    expect(accepted).toEqual({
      plaintext: 'hello from node',
      newSession: true,
      senderUser: 'alice',
      senderDeviceId: alice.device.deviceId,
      usedOneTimePreKeyId: 100,
      usedPqPreKeyId: 1,
    });

    for (let i = 0; i < 3; i++) {
      const reply = await call('encrypt', handle, `browser ${i}`);
      expect(P.messageType(P.fromHex(reply))).toBe(P.MESSAGE_TYPE_RATCHET);
      const d = await P.decryptMessage(node, a, P.fromHex(reply));
      a = d.state;
      expect(P.fromUtf8(d.plaintext)).toBe(`browser ${i}`);
      const s = await P.encryptMessage(node, a, P.utf8(`node ${i}`));
      a = s.state;
      const text = await call('decrypt', handle, hex(s.message));
      expect(text).toBe(`node ${i}`);
    }

    // The browser's persisted state is byte-compatible with Node's codec.
    const exported = await call('exportSession', handle);
    const state = P.deserializeSession(P.fromHex(exported));
    expect(hex(P.serializeSession(state))).toBe(exported);
    expect(state.remoteIdentity).toEqual(alice.device.identity.publicKey);
    expect(state.baseKey).toEqual(a.baseKey);

    // Safety numbers: computed independently on each side from the master keys, identical.
    const fromBrowser = await call('safetyNumber', handle, aliceKey);
    const fromNode = await P.safetyNumber(node, { user: 'alice', masterKey: alice.master.publicKey }, { user: 'bob', masterKey: P.fromHex(bob.masterKey) });
    expect(fromBrowser).toBe(fromNode.digits);
    timings[`interopNodeToBrowser_${noble ? 'noble' : 'web'}Ms`] = performance.now() - t;
  });

  it('a browser device starts a session with a Node device, and a forged reply is refused', async () => {
    const t = performance.now();
    const node = nodePrimitives;
    const bob = await makeUser(node, 'bob');
    const published: PublishedUser = {
      user: 'bob',
      masterKey: hex(bob.master.publicKey),
      deviceList: hex(bob.deviceList),
      bundle: hex(P.encodePreKeyBundle(P.bundleFor('bob', bob.device, bob.spk, bob.pq, bob.opks[0]))),
    };
    const alice = await call('createParty', 'alice-web', 'alice');
    const first = await call('initiate', 'alice-web', published, 'hello from the browser');
    const local = { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) };
    const trust = { user: 'alice', masterKey: P.fromHex(alice.masterKey) };
    const acc = await P.acceptPreKeyMessage(node, local, trust, P.fromHex(first));
    expect(P.fromUtf8(acc.plaintext)).toBe('hello from the browser');
    expect(acc.usedOneTimePreKeyId).toBe(bob.opks[0]?.id);
    let b = acc.state;

    // A second PreKeyMessage sent before any reply belongs to the same session.
    const second = await call('encrypt', 'alice-web', 'still waiting');
    const acc2 = await P.acceptPreKeyMessage(node, local, trust, P.fromHex(second), b);
    expect(acc2.newSession).toBe(false);
    expect(P.fromUtf8(acc2.plaintext)).toBe('still waiting');
    b = acc2.state;

    const reply = await P.encryptMessage(node, b, P.utf8('hello from node'));
    b = reply.state;
    const forged = reply.message.slice();
    forged[forged.length - 5] = (forged[forged.length - 5] as number) ^ 0x01;
    await expect(call('decrypt', 'alice-web', hex(forged))).rejects.toThrow('message could not be decrypted');
    // The failed attempt left the browser's session usable (afterEach checks the page logged no error).
    expect(await call('decrypt', 'alice-web', hex(reply.message))).toBe('hello from node');
    const back = await call('encrypt', 'alice-web', 'acknowledged');
    expect(P.messageType(P.fromHex(back))).toBe(P.MESSAGE_TYPE_RATCHET);
    expect(P.fromUtf8((await P.decryptMessage(node, b, P.fromHex(back))).plaintext)).toBe('acknowledged');
    timings.interopBrowserToNodeMs = performance.now() - t;
  });
});
