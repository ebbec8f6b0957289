/**
 * Load on the embedded SQLite store itself, no HTTP:
 * `npx tsx packages/server/test/storage-load.ts [--seconds 2] [--rounds 3] [--src DIR]... [--json]`.
 * Not a test file (vitest does not pick it up). Each `--src` is a copy of packages/server/src (default:
 * this package's src) for before/after comparisons; with several, each round runs every copy once,
 * in an order that alternates from round to round, each run in a fresh child process on a fresh
 * data directory. Prints, per copy and scenario, the median over the rounds and the range.
 *
 * Scenarios (each for `--seconds`, after a short warm-up), through the public Storage interface, so
 * every write goes through group commit (`synchronous = FULL`, one fsync per batch):
 * - deliver:  64 workers, each with its own receiver device: enqueue one 100-byte message, fetch the
 *             queue (limit 16), ack what came back. Cycles per second (two durable writes each).
 * - send:     64 workers enqueue 100-byte messages round-robin over 20 receivers; nobody reads.
 * - claim:    64 workers claim bundles of 64 devices, each holding the relay's cap of 1,000 one-time
 *             X25519 prekeys at the start (DELETE … RETURNING of the oldest, the last-resort ML-KEM
 *             prekey, the remaining counts); stops early rather than run a device dry.
 * - fetch:    read-heavy: one device with 100 queued 1 KiB envelopes, fetched whole (limit 100) in
 *             a loop. Fetches per second (×100 envelopes).
 * - lookup:   read-heavy: what every authenticated directory request reads: token lookup, then the
 *             account with its devices (one read transaction).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Storage } from '../src/storage/types.js';

const SCENARIOS = ['deliver', 'send', 'claim', 'fetch', 'lookup'] as const;
type Scenario = (typeof SCENARIOS)[number];
type RunResult = Record<Scenario, number> & { node: string; commits: number; writesPerCommit: number };
/** One figure over the rounds. */
type Spread = { median: number; min: number; max: number; runs: number[] };

const args = process.argv.slice(2);
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const LIMITS = { maxStoredOneTime: 1000 };
const key = () => randomBytes(32) as Uint8Array;

if (args[0] === '--run') await runOne(args[1] as string, Number(args[2]));
else await compare();

async function runOne(src: string, seconds: number): Promise<void> {
  const { openSqliteStorage } = (await import(join(src, 'index.ts'))) as typeof import('../src/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'br-storage-load-'));
  let commits = 0;
  let writes = 0;
  const storage = openSqliteStorage({
    dataDir: join(dir, 'data'),
    now: () => 1,
    groupCommit: {
      onCommit: (c) => {
        commits++;
        writes += c.operations;
      },
    },
  });
  try {
    const out = { node: process.version } as RunResult;
    const users = await createUsers(storage, 64);
    const deliver = async (w: number) => {
      const to = users[w] as string;
      await enqueue(storage, to, randomBytes(16), new Uint8Array(100));
      const got = await storage.mailboxes.fetch(to, 1, { limit: 16 });
      await storage.mailboxes.ack(
        to,
        1,
        got.map((m) => m.id),
      );
    };
    out.deliver = await closedLoop(seconds, 64, deliver);
    commits = 0;
    writes = 0;
    let n = 0;
    out.send = await closedLoop(seconds, 64, () => enqueue(storage, users[n++ % 20] as string, randomBytes(16), new Uint8Array(100)));
    out.commits = commits;
    out.writesPerCommit = commits > 0 ? writes / commits : 0;

    for (const user of users) {
      const oneTimePreKeys = Array.from({ length: LIMITS.maxStoredOneTime }, (_, i) => ({ id: 1000 + i, publicKey: key() }));
      const r = await storage.prekeys.upload(user, 1, { oneTimePreKeys }, LIMITS);
      if (r.status !== 'stored') throw new Error(`upload: ${r.status}`);
    }
    let claims = 0;
    const maxClaims = users.length * (LIMITS.maxStoredOneTime - 10);
    out.claim = await closedLoop(
      seconds,
      64,
      async () => {
        const [c] = await storage.prekeys.claim(users[claims++ % users.length] as string, [1]);
        if (c?.status !== 'claimed' || !c.oneTimePreKey) throw new Error('claim: no one-time prekey left');
      },
      () => claims >= maxClaims,
    );

    const reader = users[63] as string;
    for (let i = 0; i < 100; i++) await enqueue(storage, reader, randomBytes(16), randomBytes(1024));
    out.fetch = await closedLoop(seconds, 1, async () => {
      const got = await storage.mailboxes.fetch(reader, 1, { limit: 100 });
      if (got.length !== 100) throw new Error(`fetch: ${got.length} messages`);
    });

    const tokens = await Promise.all(
      users.map(async (user) => {
        const hash = key();
        await storage.auth.createToken({ hash, user, deviceId: 1, createdAt: 1, expiresAt: 1e15 }, 10);
        return hash;
      }),
    );
    out.lookup = await closedLoop(seconds, 1, async () => {
      const i = n++ % users.length;
      const token = await storage.auth.findToken(tokens[i] as Uint8Array, 2);
      const account = token && (await storage.accounts.get(users[(i + 1) % users.length] as string));
      if (!account) throw new Error('lookup: nothing found');
    });
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function createUsers(storage: Storage, count: number): Promise<string[]> {
  const users = Array.from({ length: count }, (_, i) => `u${i}`);
  for (const user of users) {
    const r = await storage.accounts.create(
      {
        user,
        masterKey: key(),
        listVersion: 1,
        deviceList: randomBytes(200),
        device: { deviceId: 1, signingKey: key(), identityKey: key() },
        prekeys: {
          signedPreKey: { id: 1, publicKey: key(), signature: randomBytes(64) },
          lastResortPqPreKey: { id: 2, publicKey: randomBytes(1184), signature: randomBytes(64) },
        },
        createdAt: 1,
      },
      LIMITS,
    );
    if (r !== 'created') throw new Error(`account ${user}: ${r}`);
  }
  return users;
}

async function enqueue(storage: Storage, to: string, id: Uint8Array, body: Uint8Array): Promise<void> {
  const r = await storage.mailboxes.enqueue({
    to,
    expectedListVersion: 1,
    fromUser: 'sender',
    fromDevice: 1,
    sentAt: 1,
    messages: [{ id, deviceId: 1, body }],
    maxQueued: 1_000_000,
  });
  if (r.status !== 'stored') throw new Error(`enqueue: ${r.status}`);
}

/** `workers` loops calling `op` for `seconds` (after a 0.3 s warm-up) or until `stop()`; operations per second. */
async function closedLoop(seconds: number, workers: number, op: (worker: number) => Promise<unknown>, stop = () => false): Promise<number> {
  const loop = async (duration: number) => {
    let done = 0;
    const end = performance.now() + duration * 1000;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        while (performance.now() < end && !stop()) {
          await op(w);
          done++;
        }
      }),
    );
    return done / ((performance.now() - start) / 1000);
  };
  await loop(0.3);
  return loop(seconds);
}

function runChild(src: string, seconds: number): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--run', src, String(seconds)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1);
      if (code !== 0 || !line) reject(new Error(`${src}: exited with ${code}`));
      else resolvePromise(JSON.parse(line) as RunResult);
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function compare(): Promise<void> {
  const seconds = flag('seconds', 2);
  const rounds = flag('rounds', 3);
  const srcs = args.flatMap((a, i) => (a === '--src' ? [resolve(args[i + 1] as string)] : []));
  if (srcs.length === 0) srcs.push(fileURLToPath(new URL('../src', import.meta.url)));
  const results = new Map<string, RunResult[]>(srcs.map((s) => [s, []]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? srcs : [...srcs].reverse();
    for (const src of order) {
      process.stderr.write(`round ${round + 1}/${rounds}: ${src}\n`);
      results.get(src)?.push(await runChild(src, seconds));
    }
  }
  const summary = srcs.map((src) => {
    const runs = results.get(src) as RunResult[];
    const row = Object.fromEntries(
      [...SCENARIOS, 'writesPerCommit' as const].map((name) => {
        const xs = runs.map((r) => r[name]);
        return [name, { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.map((x) => Math.round(x)) }];
      }),
    ) as Record<Scenario | 'writesPerCommit', Spread>;
    return { src, node: runs[0]?.node, ...row };
  });
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ bench: 'storage', seconds, rounds, summary })}\n`);
    return;
  }
  console.log(`${rounds} alternating rounds of ${seconds} s per scenario, Node ${summary[0]?.node}; median (min–max) per second`);
  for (const s of summary) {
    console.log(s.src);
    for (const name of SCENARIOS) {
      const { median: m, min, max } = s[name];
      console.log(`  ${name.padEnd(8)} ${m.toFixed(0).padStart(8)}  (${min.toFixed(0)}–${max.toFixed(0)})`);
    }
    console.log(`  writes per commit in send: ${s.writesPerCommit.median.toFixed(1)}`);
  }
}
