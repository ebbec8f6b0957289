// `npm run bench -- files`: encrypt and decrypt a 512 MiB file (--quick: 64 MiB) disk to disk with
// our age implementation (bench/files/age-stream.ts, bundled with esbuild and run as its own node
// process) and with the age CLI, in one run. Both are timed from spawn to exit and their peak RSS
// comes from /usr/bin/time (Maximum resident set size). Rounds alternate ours/age; the best round
// counts. Ours runs with --expose-gc (see age-stream.ts). Every output is checked: each side
// decrypts the other's ciphertext and the plaintext hashes must match the input's. Then the same
// file goes through a real relay on loopback (bench/files/relay-roundtrip.ts): SDK put, SDK get.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { X25519Identity } from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { build } from 'esbuild';
import { relayRoundtrip } from './files/relay-roundtrip.js';
import type { BenchOptions, BenchResult, Row } from './run.js';

const AGE = '/usr/bin/age';
const TIME = '/usr/bin/time';
const SCRIPT = fileURLToPath(new URL('./files/age-stream.ts', import.meta.url));
const MIB = 1024 * 1024;
const ROUNDS = 2;

interface Run {
  seconds: number;
  rssMb: number;
}

/** Run `cmd args` under /usr/bin/time; wall time spawn→exit, peak RSS in MB (10^6 bytes). */
async function timed(dir: string, cmd: string, args: string[]): Promise<Run> {
  const rssFile = join(dir, 'rss.txt');
  const start = process.hrtime.bigint();
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(TIME, ['-f', '%M', '-o', rssFile, cmd, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}`);
  const kb = Number.parseInt((await readFile(rssFile, 'utf8')).trim().split('\n').pop() ?? '', 10);
  if (!Number.isFinite(kb)) throw new Error('no RSS figure from /usr/bin/time');
  return { seconds, rssMb: (kb * 1024) / 1e6 };
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MIB })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function writeRandom(path: string, bytes: number): Promise<void> {
  const ws = createWriteStream(path);
  const block = Buffer.alloc(MIB);
  for (let done = 0; done < bytes; done += MIB) {
    randomFillSync(block);
    if (!ws.write(Buffer.from(block))) await once(ws, 'drain');
  }
  await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const mib = o.quick ? 64 : 512;
  const dir = await mkdtemp(join(tmpdir(), 'br-bench-files-'));
  try {
    // CommonJS: node loads it synchronously, without the ESM loader's facades over builtins (whose
    // `node:fs` facade alone pulls in the streams modules), ~10 ms and ~2 MB RSS less at start-up.
    const ours = join(dir, 'age-stream.cjs');
    await build({ entryPoints: [SCRIPT], bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: ours, logLevel: 'warning' });
    const node = process.execPath;
    const p = createNodePrimitives();
    const identity = await X25519Identity.generate(p);
    const recipient = identity.recipient().toString();
    const keyFile = join(dir, 'key.txt');
    await writeFile(keyFile, `# public key: ${recipient}\n${identity.toString()}\n`, { mode: 0o600 });
    const input = join(dir, 'input.bin');
    o.log(`files: writing ${mib} MiB of random input to ${dir}`);
    await writeRandom(input, mib * MIB);
    const want = await sha256(input);

    const sides = {
      ours: {
        enc: (out: string) => timed(dir, node, ['--expose-gc', ours, 'encrypt', recipient, input, out]),
        dec: (from: string, out: string) => timed(dir, node, ['--expose-gc', ours, 'decrypt', keyFile, from, out]),
      },
      age: {
        enc: (out: string) => timed(dir, AGE, ['-e', '-r', recipient, '-o', out, input]),
        dec: (from: string, out: string) => timed(dir, AGE, ['-d', '-i', keyFile, '-o', out, from]),
      },
    };
    const best = { ours: { enc: Infinity, dec: Infinity, rss: 0 }, age: { enc: Infinity, dec: Infinity, rss: 0 } };
    const check = async (path: string, what: string) => {
      if ((await sha256(path)) !== want) throw new Error(`${what}: plaintext hash mismatch`);
      await rm(path);
    };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? (['ours', 'age'] as const) : (['age', 'ours'] as const);
      for (const side of order) {
        const r = await sides[side].enc(join(dir, `${side}.age`));
        best[side].enc = Math.min(best[side].enc, r.seconds);
        best[side].rss = Math.max(best[side].rss, r.rssMb);
        o.log(`files: round ${round + 1} ${side} encrypt ${(mib / r.seconds).toFixed(0)} MiB/s, ${r.rssMb.toFixed(1)} MB peak RSS`);
      }
      // Each side decrypts the other's ciphertext (cross-checks interoperability on every round).
      for (const side of order) {
        const other = side === 'ours' ? 'age' : 'ours';
        const out = join(dir, `${side}.out`);
        const r = await sides[side].dec(join(dir, `${other}.age`), out);
        best[side].dec = Math.min(best[side].dec, r.seconds);
        best[side].rss = Math.max(best[side].rss, r.rssMb);
        o.log(`files: round ${round + 1} ${side} decrypt ${(mib / r.seconds).toFixed(0)} MiB/s, ${r.rssMb.toFixed(1)} MB peak RSS`);
        await check(out, `${side} decrypting ${other}'s file`);
      }
      await rm(join(dir, 'ours.age'));
      await rm(join(dir, 'age.age'));
    }
    // Through a real relay on loopback (age has no relay: no peer figure).
    const relay = await relayRoundtrip(dir, input, mib * MIB, o.log);

    const row = (metric: string, unit: string, a: number, b: number): Row => ({ metric, unit, ours: a, peer: b, ratio: b === 0 ? null : a / b });
    // name@version, as the --json contract asks: the Debian `age` command line tool.
    const peer = `age@${await ageVersion()}`;
    return {
      bench: 'files',
      peer,
      rows: [
        row('encrypt_mib_per_s', 'MiB/s', mib / best.ours.enc, mib / best.age.enc),
        row('decrypt_mib_per_s', 'MiB/s', mib / best.ours.dec, mib / best.age.dec),
        row('peak_rss_mb', 'MB', best.ours.rss, best.age.rss),
        { metric: 'relay_roundtrip_mib_per_s', unit: 'MiB/s', ours: relay.roundtripMibPerS, peer: null, ratio: null },
        { metric: 'relay_upload_mib_per_s', unit: 'MiB/s', ours: relay.uploadMibPerS, peer: null, ratio: null },
        { metric: 'relay_download_mib_per_s', unit: 'MiB/s', ours: relay.downloadMibPerS, peer: null, ratio: null },
      ],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function ageVersion(): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(AGE, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.once('exit', () => resolve(out.trim() || 'unknown'));
    child.once('error', () => resolve('unknown'));
  });
}
