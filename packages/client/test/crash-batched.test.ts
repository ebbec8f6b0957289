/**
 * Durability of batched sends and receives (send-coalescer.ts, listen.ts; docs/PROTOCOL.md §21):
 * a sender and a receiver, each a real process with a profile on disk, are killed with SIGKILL in
 * the middle of a stream of batched WebSocket sends. Restarted, the receiver gets every message
 * the relay accepted that it had not handed over yet (it acks only once the state that decrypted a
 * batch is on disk), and the restarted sender's new messages all decrypt: no message key was used
 * twice (a ciphertext never leaves before the ratchet state that made it is on disk, and a state
 * ahead of what left only skips keys).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayNode } from '../../../test/runtime.js';
import { BlindrelayClient } from '../src/client.js';
import { nodeSocketFactory } from '../src/node.js';
import { FileStorage } from '../src/storage/fs.js';
import { p } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

const SRC = new URL('../src/', import.meta.url).pathname;
const ROOT = new URL('../../../', import.meta.url).pathname;

let dir: string;
let server: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-crash-'));
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const env = (profile: string) => ({ primitives: p, storage: new FileStorage(profile), socket: nodeSocketFactory });

/**
 * A child process on `profile`: it listens (so its sends are batched over the WebSocket) and prints
 * `GOT <text>` for each message handed over; with `to`, it sends `<prefix><n>` in bursts of 20
 * concurrent sends and prints `SENT <text>` once the relay accepted each.
 */
function child(profile: string, to?: string, prefix = ''): { proc: ChildProcess; lines: string[]; wait: (pred: (ls: string[]) => boolean) => Promise<void> } {
  const script = `
    import { BlindrelayClient } from ${JSON.stringify(`${SRC}client.ts`)};
    import { nodeSocketFactory } from ${JSON.stringify(`${SRC}node.ts`)};
    import { FileStorage } from ${JSON.stringify(`${SRC}storage/fs.ts`)};
    import { createNodePrimitives } from '@blindrelay/protocol/node';
    const client = await BlindrelayClient.open({ primitives: createNodePrimitives(), storage: new FileStorage(${JSON.stringify(profile)}), socket: nodeSocketFactory });
    let open;
    const opened = new Promise((r) => { open = r; });
    void client.listen({
      onMessage: (m) => { process.stdout.write('GOT ' + m.text + '\\n'); },
      onFailure: (f) => { process.stdout.write('FAIL ' + f.code + '\\n'); },
      onStatus: (s) => { if (s.state === 'open') open(); },
    });
    await opened;
    process.stdout.write('READY\\n');
    const to = ${JSON.stringify(to ?? null)};
    if (to) {
      for (let n = 0; ; n += 20) {
        await Promise.all(Array.from({ length: 20 }, (_, k) => client.send(to, ${JSON.stringify(prefix)} + (n + k)).then((r) => process.stdout.write('SENT ' + ${JSON.stringify(prefix)} + (n + k) + '\\n'))));
      }
    }
  `;
  const proc = spawn(relayNode(), ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const wait = async (pred: (ls: string[]) => boolean) => {
    const started = Date.now();
    while (!pred(lines)) {
      if (Date.now() - started > 60_000 || proc.exitCode !== null) throw new Error(`child: condition not met; last lines ${lines.slice(-3).join(' | ')}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
  };
  return { proc, lines, wait };
}

const kill = (c: { proc: ChildProcess }) =>
  new Promise<void>((resolve) => {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) return resolve();
    c.proc.once('exit', () => resolve());
    c.proc.kill('SIGKILL');
  });

const texts = (lines: string[], tag: string) => lines.filter((l) => l.startsWith(`${tag} `)).map((l) => l.slice(tag.length + 1));

describe('kill -9 in the middle of batched sends and receives', () => {
  it('loses no accepted message and reuses no message key', { timeout: 120_000 }, async () => {
    const aliceDir = join(dir, 'alice');
    const bobDir = join(dir, 'bob');
    const run = Math.random().toString(36).slice(2, 8);
    const alice = await BlindrelayClient.createAccount(env(aliceDir), { servers: server.url, user: `alice-${run}`, deviceName: 'a' });
    const bob = await BlindrelayClient.createAccount(env(bobDir), { servers: server.url, user: `bob-${run}`, deviceName: 'b' });
    // The session exists before the stream (the first message goes one by one, with prekeys).
    await alice.send(bob.user, 'hello');
    const first: string[] = [];
    await bob.receive({ onMessage: (m) => void first.push(m.text) });
    expect(first).toEqual(['hello']);
    alice.close();
    bob.close();

    const receiver = child(bobDir);
    await receiver.wait((ls) => ls.includes('READY'));
    const sender = child(aliceDir, bob.user, 'x');
    // Mid-stream: the sender has had sends accepted and the receiver has handed some over.
    await sender.wait((ls) => texts(ls, 'SENT').length >= 60);
    await receiver.wait((ls) => texts(ls, 'GOT').length >= 20);
    await Promise.all([kill(receiver), kill(sender)]);
    const accepted = texts(sender.lines, 'SENT');
    const before = texts(receiver.lines, 'GOT');

    // Restarted: the sender goes on with new messages from its profile as it was on disk.
    const receiver2 = child(bobDir);
    await receiver2.wait((ls) => ls.includes('READY'));
    const sender2 = child(aliceDir, bob.user, 'y');
    await sender2.wait((ls) => texts(ls, 'SENT').length >= 20);
    const accepted2 = texts(sender2.lines, 'SENT').slice(0, 20);
    await receiver2.wait((ls) => accepted2.every((t) => texts(ls, 'GOT').includes(t)) && accepted.every((t) => [...before, ...texts(ls, 'GOT')].includes(t)));
    await Promise.all([kill(receiver2), kill(sender2)]);

    const got = [...before, ...texts(receiver2.lines, 'GOT')];
    // Nothing the relay accepted is lost (sends whose answer the kill cut off may arrive too).
    for (const t of [...accepted, ...accepted2]) expect(got).toContain(t);
    // No reused message key: every message after the restart decrypted, nothing failed.
    expect([...receiver.lines, ...receiver2.lines].filter((l) => l.startsWith('FAIL'))).toEqual([]);
  });
});
