/**
 * Sends over the WebSocket (send-coalescer.ts, docs/API.md §12): while listening, concurrent sends
 * go out as batches, with sync copies, one profile write per batch; a device linked meanwhile
 * (409) and a new session (no session yet) take the one-by-one path and still arrive.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedMessage } from '../src/profile.js';
import { type Device, linkDevice, newUserAt } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let server: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-batch-'));
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;

/** Listen on `d`, collecting messages; resolves once the socket is open. */
async function listening(d: Device, got: ReceivedMessage[], controller: AbortController): Promise<{ done: Promise<void> }> {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  const done = d.client.listen({ signal: controller.signal, onMessage: (m) => void got.push(m), onStatus: (s) => s.state === 'open' && open() });
  await opened;
  return { done };
}

async function until(cond: () => boolean, ms = 10_000) {
  for (let i = 0; i < ms / 25 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(cond()).toBe(true);
}

describe('batched sends over the WebSocket', () => {
  it('delivers concurrent sends in batches with sync copies, and counts the profile writes', async () => {
    const alice = await newUserAt(unique('alice'), server.url);
    const alice2 = await linkDevice(alice);
    const bob = await newUserAt(unique('bob'), server.url);
    const controller = new AbortController();
    const atBob: ReceivedMessage[] = [];
    const atAlice: ReceivedMessage[] = [];
    const atAlice2: ReceivedMessage[] = [];
    const loops = [await listening(bob, atBob, controller), await listening(alice, atAlice, controller), await listening(alice2, atAlice2, controller)];
    // First message: no session yet, the one-by-one path (prekey bundles) sets them up.
    await alice.client.send(bob.client.user, 'first');
    await until(() => atBob.length === 1 && atAlice2.length === 1);
    // Count the frames alice's socket sends and the record writes of her profile.
    const writes: string[] = [];
    const write = alice.storage.write.bind(alice.storage);
    alice.storage.write = (file, bytes) => {
      writes.push(file);
      return write(file, bytes);
    };
    const n = 40;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => alice.client.send(bob.client.user, `m${i}`)));
    for (const r of results) expect(r).toMatchObject({ devices: 1, ownDevices: 1 });
    await until(() => atBob.length === n + 1 && atAlice2.length === n + 1);
    expect(new Set(atBob.map((m) => m.text))).toEqual(new Set(['first', ...Array.from({ length: n }, (_, i) => `m${i}`)]));
    expect(atAlice2.filter((m) => m.sync).length).toBe(n + 1);
    // 40 sends by one-by-one would write the sessions and the send mark 40 times each; batched,
    // the first send goes alone and the other 39 share a batch or a few.
    const markWrites = writes.filter((f) => f.startsWith('sendmark')).length;
    expect(markWrites).toBeGreaterThan(0);
    expect(markWrites).toBeLessThanOrEqual(5);
    controller.abort();
    await Promise.all(loops.map((l) => l.done));
  });

  it('takes the one-by-one path for a device linked meanwhile (409) and still delivers to every device', async () => {
    const alice = await newUserAt(unique('alice'), server.url);
    const bob = await newUserAt(unique('bob'), server.url);
    const controller = new AbortController();
    const atBob: ReceivedMessage[] = [];
    const atAlice: ReceivedMessage[] = [];
    const atBob2: ReceivedMessage[] = [];
    const loops = [await listening(bob, atBob, controller), await listening(alice, atAlice, controller)];
    await alice.client.send(bob.client.user, 'first');
    await until(() => atBob.length === 1);
    const bob2 = await linkDevice(bob);
    loops.push(await listening(bob2, atBob2, controller));
    // Alice's list of bob is recent (directoryMaxAgeMs): the batch goes to device 1 only, the relay
    // answers 409, and the one-by-one path fetches the list, sets up a session with the new device.
    const results = await Promise.all([alice.client.send(bob.client.user, 'a'), alice.client.send(bob.client.user, 'b')]);
    for (const r of results) expect(r.devices).toBe(2);
    await until(() => atBob2.length === 2 && atBob.length >= 3);
    expect(atBob2.map((m) => m.text).sort()).toEqual(['a', 'b']);
    controller.abort();
    await Promise.all(loops.map((l) => l.done));
  });
});
