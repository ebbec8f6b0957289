/**
 * The web app's short one-time prekey supply (docs/PROTOCOL.md §6.1, DECISIONS "A short one-time
 * prekey supply at creation"): a browser account registers with SHORT_ONE_TIME_PREKEY_SUPPLY
 * one-time prekeys of each kind, sends its first message before its supply is topped up, and
 * receives a first contact; the relay then holds ONE_TIME_PREKEY_TARGET of each kind, topped up in
 * the background (apps/web/src/prekey-top-up.ts). The relay's counts are read from its own
 * database (read-only), not from the page.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { BlindrelayClient, MemoryStorage, ONE_TIME_PREKEY_TARGET, SHORT_ONE_TIME_PREKEY_SUPPLY } from '@blindrelay/client';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBuild } from './build.js';
import { CHROMIUM_ARGS, findChromium } from './chromium.js';
import { startWebRelay, type WebRelay } from './relay.js';

const chromiumPath = findChromium();

describe.skipIf(!chromiumPath)('web app: a short one-time prekey supply at creation, topped up in the background', () => {
  let dir: string;
  let relay: WebRelay;
  let browser: Browser;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'br-web-prekeys-'));
    mkdirSync(join(dir, 'data'));
    const dist = await ensureWebBuild();
    relay = await startWebRelay(join(dir, 'data'), dist, 'warn');
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The relay's stored one-time prekeys of `user`'s devices, by kind. */
  const stored = (user: string) => {
    const db = new DatabaseSync(join(dir, 'data', 'relay.db'), { readOnly: true });
    try {
      const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE user = ?`).get(user) as { n: number }).n;
      return { oneTime: count('one_time_prekeys'), pq: count('pq_prekeys') };
    } finally {
      db.close();
    }
  };

  it('registers a short supply, sends and receives first messages, then the relay holds the target', async () => {
    const env = () => ({ primitives: createNodePrimitives(), storage: new MemoryStorage() });
    const peer = await BlindrelayClient.createAccount(env(), { servers: relay.url, user: 'pat' });
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    // What the registration carried (POST /v1/accounts: the device's prekeys).
    const registration = page.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === '/v1/accounts');
    await page.goto(relay.url);
    await page.getByTestId('user').fill('dana');
    await page.getByTestId('create-account').click();
    const body = (await registration).postDataJSON() as { prekeys: { oneTimePreKeys?: unknown[]; pqPreKeys?: unknown[]; lastResortPqPreKey?: unknown } };
    expect(body.prekeys.oneTimePreKeys).toHaveLength(SHORT_ONE_TIME_PREKEY_SUPPLY);
    expect(body.prekeys.pqPreKeys).toHaveLength(SHORT_ONE_TIME_PREKEY_SUPPLY);
    expect(body.prekeys.lastResortPqPreKey).toBeDefined();
    await page.getByTestId('whoami').waitFor({ timeout: 60_000 });

    // The first message goes out at once, whether or not the top-up has started.
    await page.getByTestId('recipient').fill('pat');
    await page.getByTestId('message').fill('first message, short supply');
    await page.getByTestId('send').click();
    await page.locator('[data-testid="messages"] li[data-state="sent"]').waitFor({ timeout: 60_000 });

    // The top-up: both kinds at the target on the relay (nobody fetched dana's bundle yet).
    await page.locator('[data-testid="connection"][data-prekeys="ready"]').waitFor({ timeout: 60_000 });
    expect(stored('dana')).toEqual({ oneTime: ONE_TIME_PREKEY_TARGET, pq: ONE_TIME_PREKEY_TARGET });

    // A first contact to the browser (takes one of each kind), and the peer reads dana's message.
    await peer.send('dana', 'hello dana, from the Node SDK');
    await page.getByTestId('messages').getByText('hello dana, from the Node SDK').waitFor({ timeout: 30_000 });
    const got: string[] = [];
    await peer.receive({ onMessage: (m) => void got.push(m.text) });
    expect(got).toContain('first message, short supply');
    expect(stored('dana')).toEqual({ oneTime: ONE_TIME_PREKEY_TARGET - 1, pq: ONE_TIME_PREKEY_TARGET - 1 });
    // A reload (a new start of the app) tops up again: back to the target, and still no error.
    await page.reload();
    await page.locator('[data-testid="connection"][data-prekeys="ready"]').waitFor({ timeout: 60_000 });
    expect(stored('dana')).toEqual({ oneTime: ONE_TIME_PREKEY_TARGET, pq: ONE_TIME_PREKEY_TARGET });
    expect(errors).toEqual([]);
    peer.close();
    await context.close();
  });
});
