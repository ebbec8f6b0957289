/**
 * The inspection test for the web app: nothing readable leaves the browser.
 *
 * A real relay (`blindrelay server` at debug log level, serving the Vite build) runs behind a
 * loopback TCP proxy that records every byte of HTTP and WebSocket traffic; the pages are loaded
 * through the proxy, so everything the app sends crosses it. Two browser contexts (alice, bob) in
 * headless Chromium exchange messages both ways (the reply sealed, on the browser's sealed-send
 * socket), each carrying a unique canary, and alice sends a
 * file whose name and contents carry canaries, which bob downloads; then alice makes a group (MLS)
 * with bob whose name is a canary and sends a canary into it. Afterwards the relay's data
 * directory (SQLite database, WAL, shared memory, blobs), its logs and the captured traffic are
 * searched for every canary in raw, hex, base64 and base64url form; every request each page made
 * went to the relay's origin and nowhere else; the browser's own IndexedDB holds the profile only
 * sealed (no canary, no key-file field names; the chat history kept for reloads included) under a
 * key it cannot export. A positive control
 * shows the scanner finds a canary that is there.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBuild } from '../apps/web/test/build.js';
import { CHROMIUM_ARGS, findChromium } from '../apps/web/test/chromium.js';
import { relayNode } from './runtime.js';

const BIN = new URL('../packages/cli/bin/blindrelay.mjs', import.meta.url).pathname;
const chromiumPath = findChromium();
if (!chromiumPath) {
  if (process.env.BLINDRELAY_REQUIRE_SERVICES === '1') {
    describe('web inspection (required by BLINDRELAY_REQUIRE_SERVICES=1)', () => {
      it('needs a Chromium executable', () => {
        throw new Error('browser tests are required but no Chromium was found (BLINDRELAY_CHROMIUM, /usr/bin/chromium)');
      });
    });
  } else {
    console.warn(`\n${'!'.repeat(100)}\n!!! WEB INSPECTION TEST SKIPPED: no Chromium (BLINDRELAY_CHROMIUM, /usr/bin/chromium)\n${'!'.repeat(100)}\n`);
  }
}

const traffic: Buffer[] = [];

/** A loopback TCP proxy that records both directions of every connection. */
function startProxy(port: number): Promise<{ server: Server; url: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (b: Buffer) => {
      traffic.push(Buffer.from(b));
      upstream.write(b);
    });
    upstream.on('data', (b: Buffer) => {
      traffic.push(Buffer.from(b));
      client.write(b);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })),
  );
}

/** Every form a canary could take in a dump: raw, hex and base64 / base64url at each alignment. */
function forms(secret: Buffer): Buffer[] {
  const out = [secret, Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('hex').toUpperCase())];
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), secret]);
    for (const enc of ['base64', 'base64url'] as const) {
      const s = padded.toString(enc);
      const start = Math.ceil((shift * 4) / 3) + 1;
      out.push(Buffer.from(s.slice(start, s.length - 3)));
    }
  }
  return out.filter((f) => f.length >= 12);
}

function findIn(haystack: Buffer, canaries: Map<string, Buffer>): string[] {
  return [...canaries].filter(([, c]) => forms(c).some((f) => haystack.includes(f))).map(([name]) => name);
}

async function filesUnder(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else out.push(path);
  }
  return out;
}

describe.skipIf(!chromiumPath)('web inspection: what the relay sees of the web app', () => {
  let dir: string;
  let relay: ChildProcess;
  let logs = '';
  let proxy: Server;
  let url: string;
  let browser: Browser;
  const canaries = new Map<string, Buffer>();
  const requests: string[] = [];
  const idb: { alice?: { values: string[]; extractable: boolean[] } } = {};

  const canary = (name: string) => {
    const c = `CANARY-${name}-${randomBytes(9).toString('hex')}`;
    canaries.set(name, Buffer.from(c));
    return c;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'br-web-inspect-'));
    const dist = await ensureWebBuild();
    relay = spawn(relayNode(), [BIN, 'server', '--port', '0', '--data', join(dir, 'data'), '--log-level', 'debug'], {
      env: { ...process.env, BLINDRELAY_WEB_ROOT: dist },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    relay.stderr?.on('data', (d) => {
      logs += d;
    });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      relay.stdout?.on('data', (d) => {
        out += d;
        logs += d;
        const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      relay.on('exit', (code) => reject(new Error(`relay exited ${code}: ${logs}`)));
    });
    ({ server: proxy, url } = await startProxy(port));
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    proxy?.close();
    if (relay && relay.exitCode === null) {
      relay.kill('SIGTERM');
      await new Promise((r) => relay.once('exit', r));
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const open = async (): Promise<Page> => {
    const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('websocket', (ws) => requests.push(ws.url()));
    await page.goto(url);
    return page;
  };
  const create = async (page: Page, user: string) => {
    await page.getByTestId('user').fill(user);
    await page.getByTestId('create-account').click();
    await page.getByTestId('whoami').waitFor({ timeout: 20_000 });
  };
  const send = async (page: Page, to: string, text: string) => {
    await page.getByTestId('recipient').fill(to);
    await page.getByTestId('message').fill(text);
    await page.getByTestId('send').click();
    await page.locator('[data-testid="messages"] li[data-state="sent"]', { hasText: text }).waitFor({ timeout: 15_000 });
  };
  const sees = (page: Page, text: string) => page.getByTestId('messages').getByText(text).waitFor({ timeout: 15_000 });

  it('two browsers exchange canary messages and a canary file through the recording proxy', async () => {
    const alice = await open();
    const bob = await open();
    await Promise.all([create(alice, 'alice'), create(bob, 'bob')]);
    const m1 = canary('alice-to-bob');
    await send(alice, 'bob', m1);
    await sees(bob, m1);
    const m2 = canary('bob-to-alice');
    await send(bob, 'alice', m2);
    await sees(alice, m2);
    // Bob's reply went sealed (Alice's message brought him her delivery token), batched on the
    // browser's own sealed-send socket (docs/PROTOCOL.md §20.4), never on the authenticated one.
    expect(requests.filter((r) => new URL(r).pathname === '/v1/sealed/ws').length).toBeGreaterThan(0);

    const name = `${canary('file-name')}.txt`;
    const contents = canary('file-contents');
    const path = join(dir, name);
    await writeFile(path, `${contents}\n`.repeat(2000));
    await alice.getByTestId('file-input').setInputFiles(path);
    await alice.locator('[data-testid="messages"] li[data-state="sent"]', { hasText: name }).waitFor({ timeout: 20_000 });
    const entry = bob.locator('[data-testid="messages"] li', { hasText: name });
    await entry.waitFor({ timeout: 15_000 });
    const [download] = await Promise.all([bob.waitForEvent('download'), entry.getByRole('button', { name: 'Download' }).click()]);
    expect((await readFile((await download.path()) as string, 'utf8')).startsWith(contents)).toBe(true);

    // A group from the web app: its name and its messages are for members only.
    const groupName = canary('group-name');
    // Bob can be added once his browser has published its group keys (a few seconds after it opened).
    await bob.locator('[data-testid="connection"][data-groups="ready"]').waitFor({ timeout: 30_000 });
    await alice.getByTestId('new-group-name').fill(groupName);
    await alice.getByTestId('new-group-members').fill('bob');
    await alice.getByTestId('create-group').click();
    await alice.getByTestId('group-header').getByText('bob').waitFor({ timeout: 30_000 });
    const m3 = canary('group-text');
    await alice.getByTestId('message').fill(m3);
    await alice.getByTestId('send').click();
    await alice.locator('[data-testid="messages"] li[data-state="sent"]', { hasText: m3 }).waitFor({ timeout: 20_000 });
    await sees(bob, m3);
    await bob.getByTestId('group-header').getByText(groupName).waitFor({ timeout: 15_000 });
    // The history is written a moment after the last change (history-store.ts).
    await alice.waitForTimeout(600);

    // What this browser keeps: the raw IndexedDB values, and whether its wrap key can be exported.
    idb.alice = await alice.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('blindrelay:default');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const all = <T>(store: string) =>
        new Promise<T[]>((resolve, reject) => {
          const r = db.transaction(store).objectStore(store).getAll();
          r.onsuccess = () => resolve(r.result as T[]);
          r.onerror = () => reject(r.error);
        });
      const files = await all<Uint8Array>('files');
      const keys = await all<CryptoKey>('keys');
      return { values: files.map((f) => Array.from(f, (x) => String.fromCharCode(x)).join('')), extractable: keys.map((k) => k.extractable) };
    });
  }, 120_000);

  it('the relay database, WAL, blobs and logs hold no canary', async () => {
    expect(canaries.size).toBe(6);
    for (const file of await filesUnder(join(dir, 'data'))) {
      expect({ file, found: findIn(await readFile(file), canaries) }).toEqual({ file, found: [] });
    }
    expect(findIn(Buffer.from(logs), canaries)).toEqual([]);
    // Positive control: the same scanner finds a canary that is there, in base64url too.
    const [first] = canaries.values();
    expect(findIn(Buffer.from(`x${(first as Buffer).toString('base64url')}y`), canaries).length).toBe(1);
  });

  it('the traffic carries no canary, and the pages talked to the relay only', () => {
    const all = Buffer.concat(traffic);
    expect(all.length).toBeGreaterThan(100_000);
    expect(findIn(all, canaries)).toEqual([]);
    const origin = new URL(url);
    const elsewhere = requests.filter((r) => {
      const u = new URL(r);
      return !(u.host === origin.host && ['http:', 'ws:'].includes(u.protocol)) && u.protocol !== 'blob:' && u.protocol !== 'data:';
    });
    expect(requests.length).toBeGreaterThan(5);
    expect(elsewhere).toEqual([]);
  });

  it("the browser's IndexedDB holds the profile sealed, under a key it cannot export", () => {
    const kept = idb.alice as { values: string[]; extractable: boolean[] };
    expect(kept.values.length).toBeGreaterThan(3);
    expect(kept.extractable).toEqual([false]);
    const joined = kept.values.join('\n');
    for (const field of ['signingSeed', 'identityPrivate', 'masterSeed', 'alice', 'bob']) expect(joined).not.toContain(field);
    expect(findIn(Buffer.from(joined, 'latin1'), canaries)).toEqual([]);
  });
});
