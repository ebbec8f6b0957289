// `npm run bench -- files`: encrypt and decrypt a 512 MiB file (--quick: 64 MiB) disk to disk with
// our age implementation (bench/files/age-stream.ts, bundled with esbuild and run as its own node
// process) and with the age CLI, in one run. Both are timed from spawn to exit and their peak RSS
// comes from /usr/bin/time (Maximum resident set size). Three rounds alternate which goes first;
// the rows give the median round and the worst round's ratio (the target must hold in every
// round). Ours runs with --expose-gc (see age-stream.ts). Every output is checked: each side
// decrypts the other's ciphertext and the plaintext hashes must match the input's; before each
// decryption its input is read once, so both sides start from a cached ciphertext whichever way
// it was written. The full run also takes the peak RSS of ours on a 64 MiB and a 4 GiB file. Then
// the same file goes through a real relay on loopback (bench/files/relay-roundtrip.ts): SDK put,
// SDK get.
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

/** Write `bytes` random bytes to `path`; returns their SHA-256 (hex). */
async function writeRandom(path: string, bytes: number): Promise<string> {
  const ws = createWriteStream(path);
  const h = createHash('sha256');
  const block = Buffer.alloc(MIB);
  for (let done = 0; done < bytes; done += MIB) {
    randomFillSync(block);
    h.update(block);
    if (!ws.write(Buffer.from(block))) await once(ws, 'drain');
  }
  await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return h.digest('hex');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Read a file once, so a timed run starts from a cached input whoever wrote it. */
async function warm(path: string): Promise<void> {
  for await (const _ of createReadStream(path, { highWaterMark: 4 * MIB })) {
    // discard
  }
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const mib = o.quick ? 64 : 512;
  const rounds = o.quick ? 1 : 3;
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
    const want = await writeRandom(input, mib * MIB);

    const sides = {
      ours: {
        enc: (from: string, out: string) => timed(dir, node, ['--expose-gc', ours, 'encrypt', recipient, from, out]),
        dec: (from: string, out: string) => timed(dir, node, ['--expose-gc', ours, 'decrypt', keyFile, from, out]),
      },
      age: {
        enc: (from: string, out: string) => timed(dir, AGE, ['-e', '-r', recipient, '-o', out, from]),
        dec: (from: string, out: string) => timed(dir, AGE, ['-d', '-i', keyFile, '-o', out, from]),
      },
    };
    const runs = { ours: { enc: [] as number[], dec: [] as number[], rss: 0 }, age: { enc: [] as number[], dec: [] as number[], rss: 0 } };
    const check = async (path: string, what: string, hash = want) => {
      if ((await sha256(path)) !== hash) throw new Error(`${what}: plaintext hash mismatch`);
      await rm(path);
    };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['ours', 'age'] as const) : (['age', 'ours'] as const);
      for (const side of order) {
        const r = await sides[side].enc(input, join(dir, `${side}.age`));
        runs[side].enc.push(mib / r.seconds);
        runs[side].rss = Math.max(runs[side].rss, r.rssMb);
        o.log(`files: round ${round + 1} ${side} encrypt ${(mib / r.seconds).toFixed(0)} MiB/s, ${r.rssMb.toFixed(1)} MB peak RSS`);
      }
      // Each side decrypts the other's ciphertext (cross-checks interoperability on every round).
      for (const side of order) {
        const other = side === 'ours' ? 'age' : 'ours';
        const out = join(dir, `${side}.out`);
        await warm(join(dir, `${other}.age`));
        const r = await sides[side].dec(join(dir, `${other}.age`), out);
        runs[side].dec.push(mib / r.seconds);
        runs[side].rss = Math.max(runs[side].rss, r.rssMb);
        o.log(`files: round ${round + 1} ${side} decrypt ${(mib / r.seconds).toFixed(0)} MiB/s, ${r.rssMb.toFixed(1)} MB peak RSS`);
        await check(out, `${side} decrypting ${other}'s file`);
      }
      const i = runs.ours.enc.length - 1;
      o.log(
        `files: round ${round + 1} ratios: encrypt ${((runs.ours.enc[i] as number) / (runs.age.enc[i] as number)).toFixed(2)}×, decrypt ${((runs.ours.dec[i] as number) / (runs.age.dec[i] as number)).toFixed(2)}×`,
      );
      await rm(join(dir, 'ours.age'));
      await rm(join(dir, 'age.age'));
    }
    // Peak RSS of ours on a small and a large file (the full run only).
    const rssAt: Record<number, number> = {};
    for (const size of o.quick ? [] : [64, 4096]) {
      const file = join(dir, `input-${size}.bin`);
      o.log(`files: peak RSS on ${size} MiB: writing the input`);
      const hash = await writeRandom(file, size * MIB);
      const e = await sides.ours.enc(file, join(dir, 'size.age'));
      await rm(file);
      const d = await sides.ours.dec(join(dir, 'size.age'), join(dir, 'size.out'));
      await rm(join(dir, 'size.age'));
      await check(join(dir, 'size.out'), `ours on ${size} MiB`, hash);
      rssAt[size] = Math.max(e.rssMb, d.rssMb);
      o.log(
        `files: ${size} MiB: encrypt ${(size / e.seconds).toFixed(0)} MiB/s, decrypt ${(size / d.seconds).toFixed(0)} MiB/s, ${rssAt[size]?.toFixed(1)} MB peak RSS`,
      );
    }
    // Through a real relay on loopback (age has no relay: no peer figure).
    const relay = await relayRoundtrip(dir, input, mib * MIB, o.log);

    const row = (metric: string, unit: string, a: number, b: number): Row => ({ metric, unit, ours: a, peer: b, ratio: b === 0 ? null : a / b });
    const worst = (k: 'enc' | 'dec') => Math.min(...runs.ours[k].map((x, i) => x / (runs.age[k][i] as number)));
    const only = (metric: string, unit: string, ours: number): Row => ({ metric, unit, ours, peer: null, ratio: null });
    // name@version, as the --json contract asks: the Debian `age` command line tool.
    const peer = `age@${await ageVersion()}`;
    return {
      bench: 'files',
      peer,
      rows: [
        row('encrypt_mib_per_s', 'MiB/s', median(runs.ours.enc), median(runs.age.enc)),
        row('decrypt_mib_per_s', 'MiB/s', median(runs.ours.dec), median(runs.age.dec)),
        only('encrypt_worst_round_ratio', '×', worst('enc')),
        only('decrypt_worst_round_ratio', '×', worst('dec')),
        row('peak_rss_mb', 'MB', runs.ours.rss, runs.age.rss),
        ...(o.quick ? [] : [only('peak_rss_mb_64mib', 'MB', rssAt[64] as number), only('peak_rss_mb_4gib', 'MB', rssAt[4096] as number)]),
        only('relay_roundtrip_mib_per_s', 'MiB/s', relay.roundtripMibPerS),
        only('relay_upload_mib_per_s', 'MiB/s', relay.uploadMibPerS),
        only('relay_download_mib_per_s', 'MiB/s', relay.downloadMibPerS),
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
