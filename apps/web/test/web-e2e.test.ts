/**
 * The web app end to end (issue 15): a real relay (`blindrelay server`, serving the Vite build at
 * `/`), two browser contexts in headless Chromium (alice and bob, each a primary made in the
 * browser), one CLI user (carol), and a third context that links itself to carol as a companion,
 * approved by carol's CLI, then revoked by it. Messages both ways (web ↔ web, web ↔ CLI), a group
 * of the three (MLS: made in a browser, read and written by the CLI, a member removed in the
 * browser), a 5 MB file through the file input and a small one dropped on the chat, safety numbers
 * compared across the three, the history still there after a reload, the relay's
 * Content-Security-Policy, and no console error in any page. Screenshots of each screen go to
 * test-results/web/ (path printed).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBuild } from './build.js';
import { CHROMIUM_ARGS, findChromium } from './chromium.js';
import { BIN, cli, startWebRelay, type WebRelay } from './relay.js';

const chromiumPath = findChromium();
const required = process.env.BLINDRELAY_REQUIRE_SERVICES === '1';
if (!chromiumPath) {
  if (required) {
    describe('web app (required by BLINDRELAY_REQUIRE_SERVICES=1)', () => {
      it('needs a Chromium executable', () => {
        throw new Error('browser tests are required but no Chromium was found (BLINDRELAY_CHROMIUM, /usr/bin/chromium)');
      });
    });
  } else {
    console.warn(`\n${'!'.repeat(100)}\n!!! WEB APP TEST SKIPPED: no Chromium (BLINDRELAY_CHROMIUM, /usr/bin/chromium)\n${'!'.repeat(100)}\n`);
  }
}

const SHOTS = join(process.cwd(), 'test-results', 'web');

describe.skipIf(!chromiumPath)('web app in headless Chromium, with a CLI user, through a real relay', () => {
  let dir: string;
  let relay: WebRelay;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const consoleErrors: string[] = [];
  // Which requests failed (a console error names the status only), to explain a failure below.
  const httpErrors: string[] = [];

  const open = async (name: string): Promise<Page> => {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 720 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${name}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${name}: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) httpErrors.push(`${name}: ${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
    });
    await page.goto(relay.url, { waitUntil: 'load' });
    return page;
  };
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const createAccount = async (page: Page, user: string) => {
    await page.getByTestId('user').fill(user);
    await page.getByTestId('create-account').click();
    await page.getByTestId('whoami').waitFor({ timeout: 20_000 });
  };
  const send = async (page: Page, to: string, text: string) => {
    await page.getByTestId('tab-chat').click();
    await page.getByTestId('recipient').fill(to);
    await page.getByTestId('message').fill(text);
    await page.getByTestId('send').click();
    await page.locator('[data-testid="messages"] li[data-state="sent"]', { hasText: text }).waitFor({ timeout: 15_000 });
  };
  const sees = (page: Page, text: string) => page.getByTestId('messages').getByText(text).waitFor({ timeout: 15_000 });
  const safetyNumber = async (page: Page, peer: string) => {
    await page.getByTestId('tab-chat').click();
    await page.getByTestId('recipient').fill(peer);
    await page.getByTestId('show-safety').click();
    const digits = (await page.getByTestId('safety-number').textContent({ timeout: 15_000 }))?.replace(/\s+/g, '') ?? '';
    return digits;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'br-web-'));
    mkdirSync(SHOTS, { recursive: true });
    let t = Date.now();
    const dist = await ensureWebBuild();
    console.info(`vite build: ${Date.now() - t} ms`);
    t = Date.now();
    relay = await startWebRelay(join(dir, 'data'), dist);
    console.info(`relay start: ${Date.now() - t} ms`);
    t = Date.now();
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    console.info(`chromium launch: ${Date.now() - t} ms`);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('accounts, messages both ways, a 5 MB file, safety numbers, a linked browser revoked; no console errors', async () => {
    const home = join(dir, 'cli');
    // The page and its policy.
    const page0 = await fetch(relay.url);
    const csp = page0.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:\/\/(?!127\.0\.0\.1)/);
    const html = await page0.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    // Subresource Integrity on the app's script (apps/web/sri.ts): the page would not run if it were wrong.
    expect(html).toMatch(/<script[^>]+src="\/assets\/[^"]+\.js" integrity="sha384-[A-Za-z0-9+/=]{64}"/);

    const carol = cli(home, ['account', 'create', '--server', relay.url, '--user', 'carol', '--device-name', 'laptop']);
    const alice = await open('alice');
    await shot(alice, '01-welcome');
    const bob = await open('bob');
    await Promise.all([createAccount(alice, 'alice'), createAccount(bob, 'bob')]);
    expect((await carol).code).toBe(0);

    // Web ↔ web, both ways.
    await send(alice, 'bob', 'hello bob, from alice in a browser');
    await sees(bob, 'hello bob, from alice in a browser');
    await send(bob, 'alice', 'hi alice, bob here 👋');
    await sees(alice, 'hi alice, bob here 👋');
    await shot(alice, '02-chat');

    // Web ↔ CLI, both ways.
    await send(alice, 'carol', 'carol, this comes from the web app');
    const got = await cli(home, ['--json', 'receive']);
    expect(got.stdout).toContain('carol, this comes from the web app');
    expect((await cli(home, ['send', 'alice', 'alice, this comes from the CLI'])).code).toBe(0);
    await sees(alice, 'alice, this comes from the CLI');

    // A group of the two browsers and the CLI user: made in alice's browser, messages every way,
    // the CLI reads and writes it, then alice removes carol.
    let t = Date.now();
    // Bob's browser can be added once it has published its group keys (a few seconds after it opened).
    await bob.locator('[data-testid="connection"][data-groups="ready"]').waitFor({ timeout: 30_000 });
    await alice.getByTestId('new-group-name').fill('Weekend plans');
    await alice.getByTestId('new-group-members').fill('bob, carol');
    await alice.getByTestId('create-group').click();
    const header = alice.getByTestId('group-header');
    await header.getByText('carol').waitFor({ timeout: 30_000 });
    const groupId = (await header.getAttribute('data-group')) as string;
    expect(groupId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const sendInGroup = async (page: Page, text: string) => {
      await page.getByTestId('message').fill(text);
      await page.getByTestId('send').click();
      await page.locator('[data-testid="messages"] li[data-state="sent"]', { hasText: text }).waitFor({ timeout: 20_000 });
    };
    await sendInGroup(alice, 'hello group, from alice');
    // Bob's page opens the group when its first message arrives (nothing was being typed).
    await sees(bob, 'hello group, from alice');
    await bob.locator(`[data-testid="group-header"][data-group="${groupId}"]`).waitFor();
    await sendInGroup(bob, 'bob here, in the group');
    await sees(alice, 'bob here, in the group');
    const carolReads = await cli(home, ['--json', 'receive']);
    const groupLines = carolReads.stdout
      .split('\n')
      .filter((l) => l.includes('"group"'))
      .map((l) => JSON.parse(l) as { group: string; from: string; text: string });
    expect(groupLines.map((l) => [l.group, l.from, l.text])).toEqual([
      [groupId, 'alice', 'hello group, from alice'],
      [groupId, 'bob', 'bob here, in the group'],
    ]);
    expect((await cli(home, ['group', 'send', groupId, 'carol, from the CLI, in the group'])).code).toBe(0);
    await Promise.all([sees(alice, 'carol, from the CLI, in the group'), sees(bob, 'carol, from the CLI, in the group')]);
    await shot(alice, '09-group');
    await alice.getByTestId('group-member-user').fill('carol');
    await alice.getByTestId('group-remove').click();
    await alice.getByTestId('status').getByText('carol was removed').waitFor({ timeout: 20_000 });
    expect(await alice.getByTestId('group-members').textContent()).not.toContain('carol');
    await sendInGroup(alice, 'only alice and bob read this');
    await sees(bob, 'only alice and bob read this');
    console.info(`group part: ${Date.now() - t} ms`);

    // A 5 MB file through the file input, downloaded and checked on the other side.
    const big = randomBytes(5 * 1024 * 1024);
    const bigPath = join(dir, 'report.bin');
    writeFileSync(bigPath, big);
    await alice.getByTestId('recipient').fill('bob');
    await alice.getByTestId('file-input').setInputFiles(bigPath);
    await alice.locator('[data-testid="messages"] li[data-state="sent"]', { hasText: 'report.bin' }).waitFor({ timeout: 30_000 });
    const entry = bob.locator('[data-testid="messages"] li', { hasText: 'report.bin' });
    await entry.waitFor({ timeout: 15_000 });
    await shot(bob, '03-file-received');
    const [download] = await Promise.all([bob.waitForEvent('download', { timeout: 30_000 }), entry.getByRole('button', { name: 'Download' }).click()]);
    const downloaded = readFileSync((await download.path()) as string);
    expect(createHash('sha256').update(downloaded).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
    expect(download.suggestedFilename()).toBe('report.bin');

    // A file dropped on the chat (drag and drop).
    await bob.getByTestId('recipient').fill('alice');
    const dataTransfer = await bob.evaluateHandle(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped notes'], 'notes.txt', { type: 'text/plain' }));
      return dt;
    });
    await bob.getByTestId('drop-zone').dispatchEvent('drop', { dataTransfer });
    await alice.locator('[data-testid="messages"] li', { hasText: 'notes.txt' }).waitFor({ timeout: 15_000 });

    // Safety numbers: the same 60 digits on both browsers and on the CLI; verifying marks it.
    const aliceSeesBob = await safetyNumber(alice, 'bob');
    const bobSeesAlice = await safetyNumber(bob, 'alice');
    expect(aliceSeesBob).toMatch(/^\d{60}$/);
    expect(bobSeesAlice).toBe(aliceSeesBob);
    const aliceSeesCarol = await safetyNumber(alice, 'carol');
    const carolSeesAlice = JSON.parse((await cli(home, ['--json', 'safety-number', 'alice'])).stdout) as { safetyNumber: string };
    expect(carolSeesAlice.safetyNumber).toBe(aliceSeesCarol);
    await safetyNumber(alice, 'bob');
    await alice.getByTestId('verify-input').fill(bobSeesAlice);
    await alice.getByTestId('verify').click();
    await alice.locator('[data-testid="verified"][data-verified="true"]').waitFor({ timeout: 10_000 });
    await shot(alice, '04-safety-number');

    // A third browser links itself to carol; carol's CLI (the primary) approves it, it receives,
    // then carol revokes it and the page says so.
    const linked = await open('carol-browser');
    await linked.getByTestId('user').fill('carol');
    await linked.getByTestId('link-device').click();
    const code = (await linked.getByTestId('link-code').textContent({ timeout: 15_000 })) as string;
    const sas = (await linked.getByTestId('link-sas').textContent()) as string;
    await shot(linked, '05-link');
    const approved = await cli(home, ['device', 'approve', code, '--sas', sas]);
    expect(approved.code, approved.stderr).toBe(0);
    await linked.getByTestId('whoami').waitFor({ timeout: 20_000 });
    await send(bob, 'carol', 'carol, on every device');
    await sees(linked, 'carol, on every device');
    await linked.getByTestId('tab-devices').click();
    await linked.locator('[data-testid="devices"] li', { hasText: 'this browser' }).waitFor({ timeout: 10_000 });
    await shot(linked, '06-devices');
    const id = /device (\d+)/.exec((await linked.getByTestId('whoami').textContent()) as string)?.[1] as string;
    const revoked = await cli(home, ['device', 'revoke', id]);
    expect(revoked.code, revoked.stderr).toBe(0);
    await linked.getByTestId('revoked').waitFor({ timeout: 20_000 });
    await shot(linked, '07-revoked');
    // Forgetting erases this browser's profile (its IndexedDB database): back to the start screen.
    await linked.getByTestId('forget').click();
    await linked.getByTestId('create-account').waitFor({ timeout: 10_000 });
    // (The start screen opened the database again to look for a profile: it is empty, key included.)
    const left = await linked.evaluate(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('blindrelay:default');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const count = (store: string) =>
        new Promise<number>((resolve, reject) => {
          const r = db.transaction(store).objectStore(store).count();
          r.onsuccess = () => resolve(r.result);
          r.onerror = () => reject(r.error);
        });
      return { files: await count('files'), keys: await count('keys') };
    });
    expect(left).toEqual({ files: 0, keys: 0 });

    // Alice's browser is a primary: a CLI device links to alice, alice approves it in her Devices
    // tab, then revokes it there.
    const aliceCli = join(dir, 'alice-cli');
    const linking = spawn(process.execPath, [BIN, '--json', 'device', 'link', '--server', relay.url, '--user', 'alice', '--device-name', 'terminal'], {
      env: { ...process.env, BLINDRELAY_HOME: aliceCli, BLINDRELAY_PROFILE: '', BLINDRELAY_PASSPHRASE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let linkOut = '';
    const linkDone = new Promise<number | null>((resolve) => linking.on('close', resolve));
    const offer = await new Promise<{ code: string; sas: string }>((resolve, reject) => {
      linking.stdout?.on('data', (d) => {
        linkOut += d;
        const line = linkOut.split('\n').find((l) => l.includes('"code"'));
        if (line) resolve(JSON.parse(line));
      });
      linking.on('close', () => reject(new Error(`device link ended: ${linkOut}`)));
    });
    await alice.getByTestId('tab-devices').click();
    await alice.getByTestId('approve-code').fill(offer.code);
    await alice.getByTestId('approve-sas').fill(offer.sas);
    await alice.getByTestId('approve').click();
    expect(await linkDone).toBe(0);
    const terminalId = (JSON.parse(linkOut.trim().split('\n').at(-1) as string) as { deviceId: number }).deviceId;
    await alice.getByTestId('refresh-devices').click();
    await alice.getByTestId(`revoke-${terminalId}`).waitFor({ timeout: 10_000 });
    await shot(alice, '08-devices-primary');
    await alice.getByTestId(`revoke-${terminalId}`).click();
    await alice
      .getByTestId('status')
      .getByText(`Device ${terminalId} was revoked.`)
      .waitFor({ timeout: 30_000 })
      .catch(async (e: Error) => {
        throw new Error(`${e.message}\nstatus: ${await alice.getByTestId('status').textContent()}`);
      });
    await alice.locator(`[data-testid="device-${terminalId}"]`).waitFor({ state: 'detached', timeout: 10_000 });

    // The history is kept across a reload (sealed in IndexedDB: history-store.ts).
    t = Date.now();
    await alice.reload();
    await alice.getByTestId('whoami').waitFor({ timeout: 20_000 });
    await alice.getByTestId('tab-chat').click();
    await alice.getByTestId('conversation-bob').click();
    await sees(alice, 'hi alice, bob here 👋');
    await alice.getByTestId(`group-${groupId}`).click();
    await sees(alice, 'carol, from the CLI, in the group');
    await sees(alice, 'only alice and bob read this');
    await shot(alice, '10-history-after-reload');
    console.info(`reload part: ${Date.now() - t} ms`);

    console.info(`web app screenshots: ${SHOTS}`);
    // One refusal is part of the protocol: a send that misses a device of the recipient is refused
    // (409, device coverage: docs/API.md) and the SDK sends again with the new device list; the
    // browser logs the refused request. Bob meets it here: he learnt carol's devices in the group
    // before carol linked a browser (and his message reached it, above). The other is a group
    // commit for an epoch another member's commit already ended (409, the delivery service's
    // ordering rule: docs/PROTOCOL.md §22): two members' devices committed at once (the CI run of
    // 2026-12-03 saw alice's refused); the SDK applies the winner and commits again if still needed,
    // and the checks above show every member in the same state. Any other error fails.
    const refusedByProtocol = (who: string) =>
      httpErrors.some((h) => h.startsWith(`${who}: `) && /: 409 POST \/v1\/(messages|groups\/[A-Za-z0-9_-]{22}\/commits)$/.test(h));
    const handled = (e: string) => /status of 409 \(Conflict\)$/.test(e) && refusedByProtocol(e.slice(0, e.indexOf(':')));
    expect(
      consoleErrors.filter((e) => !handled(e)),
      `failed requests: ${httpErrors.join('; ')}`,
    ).toEqual([]);
  }, 300_000);
});
