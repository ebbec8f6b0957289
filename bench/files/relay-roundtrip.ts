// The files benchmark's relay row: a real relay process (`blindrelay server`, SQLite + blob
// directory) on loopback; Alice stores the input file for Bob through the SDK (encrypt + chunked
// upload), Bob fetches it (download + decrypt + atomic write). Timed separately; the round trip
// figure is the file size over the sum of both. The output's hash is checked against the input's.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BlindrelayClient, type ClientEnvironment, MemoryStorage } from '@blindrelay/client';
import { fileSource, nodeSocketFactory, saveFile } from '@blindrelay/client/node';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { relayNode } from '../../test/runtime.js';

const BIN = fileURLToPath(new URL('../../packages/cli/bin/blindrelay.mjs', import.meta.url));
const MIB = 1024 * 1024;

export interface RelayRoundtrip {
  uploadMibPerS: number;
  downloadMibPerS: number;
  roundtripMibPerS: number;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: MIB })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function startRelay(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(relayNode(), [BIN, 'server', '--port', '0', '--data', dataDir, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
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

export async function relayRoundtrip(dir: string, input: string, bytes: number, log: (s: string) => void): Promise<RelayRoundtrip> {
  const relay = await startRelay(join(dir, 'relay-data'));
  try {
    const p = createNodePrimitives();
    const env = (): ClientEnvironment => ({ primitives: p, storage: new MemoryStorage(), socket: nodeSocketFactory });
    const alice = await BlindrelayClient.createAccount(env(), { servers: relay.url, user: 'alice' });
    const bob = await BlindrelayClient.createAccount(env(), { servers: relay.url, user: 'bob' });
    const want = await sha256(input);

    let t = process.hrtime.bigint();
    const { file } = await alice.putFile(await fileSource(input), { to: ['bob'] });
    const upload = Number(process.hrtime.bigint() - t) / 1e9;
    t = process.hrtime.bigint();
    const saved = await saveFile(bob, file.id, { output: join(dir, 'relay-out.bin') });
    const download = Number(process.hrtime.bigint() - t) / 1e9;
    if ((await sha256(saved.path)) !== want) throw new Error('relay round trip: plaintext hash mismatch');
    const mib = bytes / MIB;
    const r = { uploadMibPerS: mib / upload, downloadMibPerS: mib / download, roundtripMibPerS: mib / (upload + download) };
    log(`files: relay put ${r.uploadMibPerS.toFixed(0)} MiB/s, get ${r.downloadMibPerS.toFixed(0)} MiB/s, round trip ${r.roundtripMibPerS.toFixed(0)} MiB/s`);
    alice.close();
    bob.close();
    return r;
  } finally {
    relay.child.kill('SIGTERM');
    await new Promise((r) => relay.child.once('exit', r));
  }
}
