/**
 * The web bench (issue 15): what a browser pays for Blindrelay, and how fast the CLI starts.
 *
 * - bundle_kb_gz: all JavaScript and WebAssembly the app can load: every .js/.mjs/.wasm file of
 *   its build (the entry and each chunk loaded on demand; the build emits no chunk the app cannot
 *   load: OPAQUE, for passphrase backups the web app does not offer, is left out of it:
 *   apps/web/without-opaque.ts; so is scrypt, which no SDK path calls: apps/web/without-scrypt.ts),
 *   each gzipped at level 9, summed. Peer, for scale:
 *   @matrix-org/matrix-sdk-crypto-wasm (Matrix's end-to-end crypto for browsers, the layer this
 *   compares to), fetched with `npm pack` from the npm registry in this run, the files its browser
 *   entry loads (index.mjs, pkg/matrix_sdk_crypto_wasm_bg.js, pkg/matrix_sdk_crypto_wasm_bg.wasm)
 *   gzipped the same way.
 * - first_load_kb_gz: the JavaScript and WebAssembly responses the page loaded in headless Chromium
 *   from opening it to its first message sent (captured from the network, gzipped the same way);
 *   each must be a file of the build.
 * - cold_start_to_first_message_ms: a fresh browser context (empty cache, no profile) opens the app,
 *   creates an account (keys, prekeys, registration) and sends a first message to a user made
 *   by the Node SDK, until the relay accepted it (the entry turns `sent`); median of 3 (1 quick).
 * - cold_start_main_thread_ms: the page's main-thread busy time over the same span (Chrome DevTools
 *   protocol, Performance.getMetrics TaskDuration, read when the message is sent); median of the
 *   same runs. Less sensitive to the machine's load than the wall time (a busy machine delays the
 *   page's tasks more than it lengthens them).
 * - cli_start_ms: `packages/cli/bin/blindrelay.mjs --version` (or `--help` where --version does
 *   not exist yet: the unit says which) as a process, median of 7 (3 quick).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { BlindrelayClient, MemoryStorage } from '@blindrelay/client';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { chromium } from 'playwright-core';
import { ensureWebBuild } from '../apps/web/test/build.js';
import { CHROMIUM_ARGS, findChromium } from '../apps/web/test/chromium.js';
import { startWebRelay } from '../apps/web/test/relay.js';
import type { BenchOptions, BenchResult, Row } from './run.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(ROOT, 'packages/cli/bin/blindrelay.mjs');
const PEER = '@matrix-org/matrix-sdk-crypto-wasm';
const PEER_FILES = ['index.mjs', 'pkg/matrix_sdk_crypto_wasm_bg.js', 'pkg/matrix_sdk_crypto_wasm_bg.wasm'];

const gz = (b: Uint8Array) => gzipSync(b, { level: 9 }).length;
const kb = (n: number) => Math.round((n / 1024) * 10) / 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const row = (metric: string, unit: string, ours: number, peer: number | null): Row => ({ metric, unit, ours, peer, ratio: peer === null ? null : ours / peer });

/** The peer's browser files, packed from the npm registry into a temporary directory. */
async function peerBundle(log: (l: string) => void): Promise<{ version: string; bytesGz: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'br-bench-web-peer-'));
  try {
    const { stdout } = await exec('npm', ['pack', PEER, '--json', '--pack-destination', dir], { cwd: dir, maxBuffer: 1 << 24 });
    const packed = JSON.parse(stdout) as { filename: string; version: string }[];
    const info = packed[0] as { filename: string; version: string };
    const tar = spawnSync('tar', ['xzf', join(dir, info.filename), '-C', dir]);
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    let bytesGz = 0;
    for (const f of PEER_FILES) bytesGz += gz(readFileSync(join(dir, 'package', f)));
    log(`peer ${PEER}@${info.version}: ${PEER_FILES.join(', ')} → ${kb(bytesGz)} KB gzipped`);
    return { version: info.version, bytesGz };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every JavaScript and WebAssembly file of the build, by its path under dist/ (`/assets/…`). */
function buildFiles(dist: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(m?js|wasm)$/.test(name)) out.set(p.slice(dist.length).replaceAll('\\', '/'), gz(readFileSync(p)));
    }
  };
  walk(dist);
  return out;
}

async function cliStart(runs: number): Promise<{ ms: number; flag: string }> {
  const probe = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
  const flag = probe.status === 0 && /\d+\.\d+\.\d+/.test(probe.stdout) ? '--version' : '--help';
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [CLI, flag], { encoding: 'utf8' });
    times.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`blindrelay ${flag} exited ${r.status}: ${r.stderr}`);
  }
  return { ms: median(times), flag };
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const chromiumPath = findChromium();
  if (!chromiumPath) throw new Error('the web bench needs Chromium (BLINDRELAY_CHROMIUM or /usr/bin/chromium; apt-get install chromium)');
  const dir = mkdtempSync(join(tmpdir(), 'br-bench-web-'));
  mkdirSync(join(dir, 'data'));
  o.log('building the web app (reused when apps/web/dist matches the sources)');
  const dist = await ensureWebBuild();
  const relay = await startWebRelay(join(dir, 'data'), dist, 'warn');
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
  try {
    const peerUser = await BlindrelayClient.createAccount(
      { primitives: createNodePrimitives(), storage: new MemoryStorage() },
      { servers: relay.url, user: 'peer' },
    );
    peerUser.close();
    const rounds = o.quick ? 1 : 3;
    const coldStarts: number[] = [];
    const busy: number[] = [];
    let loadedGz = 0;
    const loadedPaths = new Set<string>();
    for (let i = 0; i < rounds; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const cdp = await context.newCDPSession(page);
      await cdp.send('Performance.enable');
      const bodies: Promise<number>[] = [];
      page.on('response', (r) => {
        const type = r.headers()['content-type'] ?? '';
        if (!/javascript|wasm/.test(type)) return;
        loadedPaths.add(new URL(r.url()).pathname);
        bodies.push(r.body().then((b) => gz(b)));
      });
      const t0 = performance.now();
      await page.goto(relay.url);
      await page.getByTestId('user').waitFor();
      const tLoaded = performance.now();
      await page.getByTestId('user').fill(`cold${i}`);
      await page.getByTestId('create-account').click();
      await page.getByTestId('whoami').waitFor({ timeout: 60_000 });
      const tCreated = performance.now();
      await page.getByTestId('recipient').fill('peer');
      await page.getByTestId('message').fill('first message');
      await page.getByTestId('send').click();
      await page.locator('[data-testid="messages"] li[data-state="sent"]').waitFor({ timeout: 60_000 });
      const tSent = performance.now();
      const metrics = new Map((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
      const ms = tSent - t0;
      coldStarts.push(ms);
      const taskMs = (metrics.get('TaskDuration') ?? Number.NaN) * 1000;
      busy.push(taskMs);
      o.log(
        `  page loaded ${(tLoaded - t0).toFixed(0)} ms, account created ${(tCreated - tLoaded).toFixed(0)} ms, first message sent ${(tSent - tCreated).toFixed(0)} ms; ` +
          `main thread busy ${taskMs.toFixed(0)} ms (script ${((metrics.get('ScriptDuration') ?? Number.NaN) * 1000).toFixed(0)} ms)`,
      );
      const sum = (await Promise.all(bodies)).reduce((a, b) => a + b, 0);
      if (i === 0) loadedGz = sum;
      o.log(`cold start ${i + 1}/${rounds}: ${ms.toFixed(0)} ms; JS/WASM loaded: ${kb(sum)} KB gzipped in ${bodies.length} responses`);
      await context.close();
    }
    const built = buildFiles(dist);
    const strays = [...loadedPaths].filter((p) => !built.has(p));
    if (strays.length > 0) throw new Error(`the page loaded scripts that are not in the build: ${strays.join(', ')}`);
    const allGz = [...built.values()].reduce((a, b) => a + b, 0);
    o.log(`build: ${built.size} JS/WASM files, ${kb(allGz)} KB gzipped; the first session loaded ${loadedPaths.size} of them`);
    const peer = await peerBundle(o.log);
    const cli = await cliStart(o.quick ? 3 : 7);
    o.log(`blindrelay ${cli.flag}: ${cli.ms.toFixed(0)} ms (median)`);
    const rows = [
      row('bundle_kb_gz', 'KB gzipped (all JS + WASM the app can load)', kb(allGz), kb(peer.bytesGz)),
      row('first_load_kb_gz', 'KB gzipped (JS + WASM loaded to the first message)', kb(loadedGz), null),
      row('cold_start_to_first_message_ms', 'ms', Math.round(median(coldStarts)), null),
      row('cold_start_main_thread_ms', 'ms (TaskDuration, same runs)', Math.round(median(busy)), null),
      row('cli_start_ms', `ms (blindrelay ${cli.flag})`, Math.round(cli.ms), null),
    ];
    return { bench: 'web', peer: `${PEER}@${peer.version}`, rows };
  } finally {
    await browser.close();
    await relay.stop();
    if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
  }
}
