// `npm run bench -- backup`: the encrypted key backup (docs/RECOVERY.md). The passphrase's key
// stretching — Argon2id m = 64 MiB, t = 3, p = 4 inside OPAQUE (`@serenity-kit/opaque`, WASM) —
// against the same Argon2id from our primitives (node:crypto) as the peer; the size of the
// encrypted backup for 100 and 1000 file keys; and, through a real relay process on loopback
// (SQLite), `createBackup` and `BlindrelayClient.restore` with a recovery code and with a
// passphrase for a user holding 20 files (--quick: 3). Medians of 5 runs (--quick: 1).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlindrelayClient, type ClientEnvironment, MemoryStorage } from '@blindrelay/client';
import { fileSource } from '@blindrelay/client/node';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import * as opaque from '@serenity-kit/opaque';
import { sealBackup } from '../packages/client/src/backup/backup-format.js';
import { relayNode } from '../test/runtime.js';
import type { BenchOptions, BenchResult, Row } from './run.js';

const BIN = fileURLToPath(new URL('../packages/cli/bin/blindrelay.mjs', import.meta.url));
const p = createNodePrimitives();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function timeMs(n: number, f: () => Promise<unknown> | unknown): Promise<number> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    out.push(performance.now() - t);
  }
  return median(out);
}

function startRelay(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    relayNode(),
    [
      BIN,
      'server',
      '--port',
      '0',
      '--data',
      dataDir,
      '--log-level',
      'warn',
      '--backup-restore-per-ip',
      'off',
      '--backup-restore-per-user',
      'off',
      '--device-list-per-user',
      'off',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1] as string });
    });
    child.once('exit', (code) => reject(new Error(`relay exited with ${code}`)));
  });
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const rounds = o.quick ? 1 : 5;
  const files = o.quick ? 3 : 20;
  await opaque.ready;
  const setup = opaque.server.createSetup();
  const register = () => {
    const r = opaque.client.startRegistration({ password: 'a benchmark passphrase' });
    const resp = opaque.server.createRegistrationResponse({ serverSetup: setup, userIdentifier: 'alice', registrationRequest: r.registrationRequest });
    return opaque.client.finishRegistration({
      clientRegistrationState: r.clientRegistrationState,
      registrationResponse: resp.registrationResponse,
      password: 'a benchmark passphrase',
      keyStretching: 'memory-constrained',
    });
  };
  o.log('OPAQUE registration (Argon2id 64 MiB, t=3, p=4 in WASM) vs node:crypto Argon2id');
  const opaqueMs = await timeMs(rounds, register);
  const nativeMs = await timeMs(rounds, () => p.argon2id(p.randomBytes(16), p.randomBytes(16), { m: 65536, t: 3, p: 4, dkLen: 32 }));
  const size = async (n: number) =>
    (
      await sealBackup(p, p.randomBytes(32), {
        user: 'alice',
        masterSeed: p.randomBytes(32),
        contacts: Array.from({ length: 20 }, (_, i) => ({ user: `contact-${i}`, masterKey: p.randomBytes(32), verified: true, pinnedAt: 1 })),
        files: Array.from({ length: n }, () => ({ id: Buffer.from(p.randomBytes(16)).toString('base64url'), version: 1, key: p.randomBytes(16) })),
        createdAt: 1,
      })
    ).length;

  const dir = await mkdtemp(join(tmpdir(), 'br-bench-backup-'));
  const relay = await startRelay(join(dir, 'relay'));
  try {
    const env = (): ClientEnvironment => ({ primitives: p, storage: new MemoryStorage() });
    const alice = await BlindrelayClient.createAccount(env(), { servers: relay.url, user: 'alice' });
    o.log(`alice stores ${files} files`);
    for (let i = 0; i < files; i++) {
      const path = join(dir, `f${i}`);
      await writeFile(path, p.randomBytes(10_000));
      await alice.putFile(await fileSource(path));
    }
    let code = '';
    o.log('create and restore with a recovery code');
    const createCodeMs = await timeMs(rounds, async () => {
      code = (await alice.createBackup()).recoveryCode as string;
    });
    const restoreCodeMs = await timeMs(rounds, async () => {
      const r = await BlindrelayClient.restore(env(), { servers: relay.url, user: 'alice', code });
      r.client.close();
    });
    o.log('create and restore with a passphrase');
    const passphrase = 'a benchmark passphrase';
    const createPassMs = await timeMs(rounds, () => alice.createBackup({ passphrase }));
    const restorePassMs = await timeMs(rounds, async () => {
      const r = await BlindrelayClient.restore(env(), { servers: relay.url, user: 'alice', passphrase });
      r.client.close();
    });
    const rows: Row[] = [
      { metric: 'opaque_registration_ms', unit: 'ms', ours: opaqueMs, peer: nativeMs, ratio: opaqueMs / nativeMs },
      { metric: 'backup_bytes_100_files', unit: 'bytes', ours: await size(100), peer: null, ratio: null },
      { metric: 'backup_bytes_1000_files', unit: 'bytes', ours: await size(1000), peer: null, ratio: null },
      { metric: `create_code_ms_${files}_files`, unit: 'ms', ours: createCodeMs, peer: null, ratio: null },
      { metric: `restore_code_ms_${files}_files`, unit: 'ms', ours: restoreCodeMs, peer: null, ratio: null },
      { metric: `create_passphrase_ms_${files}_files`, unit: 'ms', ours: createPassMs, peer: null, ratio: null },
      { metric: `restore_passphrase_ms_${files}_files`, unit: 'ms', ours: restorePassMs, peer: null, ratio: null },
    ];
    alice.close();
    return { bench: 'backup', peer: `node:crypto argon2id@${process.versions.node}`, rows };
  } finally {
    relay.child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}
