/**
 * Receiving in batches with one profile transaction per batch (client.ts, "#handed"): the inbox
 * removal of the messages handed to the application rides with the next batch's transaction
 * instead of a transaction of its own, and is written on its own at the end of `receive`, when
 * `listen` ends, or once `listen` has been idle for a moment. Until then the messages stay in the
 * stored inbox: a crash hands them over again (at least once), never loses them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlindrelayClient } from '../src/client.js';
import { Profile, type ReceivedMessage } from '../src/profile.js';
import type { ProfileStorage } from '../src/storage/types.js';
import { type Device, newUserAt, p } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let server: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-batch-recv-'));
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;

/** The inbox as stored (a Profile of its own on the same storage: no shared cache). */
async function storedInbox(storage: ProfileStorage): Promise<string[]> {
  const profile = await Profile.open(storage, p);
  return (await profile.read('recent')).inbox.map((m) => m.text);
}

/** Count the writes of the `recent` record (inbox and newest seen digests). */
function countRecentWrites(d: Device): { n: number } {
  const count = { n: 0 };
  const write = d.storage.write.bind(d.storage);
  d.storage.write = (file, bytes) => {
    if (file.startsWith('recent.')) count.n++;
    return write(file, bytes);
  };
  return count;
}

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000) {
  for (let i = 0; i < ms / 25 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 25));
  expect(await cond()).toBe(true);
}

describe('batched receives: one profile transaction per batch', () => {
  it('receive: the inbox removal rides with the next batch, and once more at the end', async () => {
    const alice = await newUserAt(unique('alice'), server.url);
    const bob = await newUserAt(unique('bob'), server.url);
    await alice.client.send(bob.client.user, 'first');
    const first: string[] = [];
    await bob.client.receive({ onMessage: (m) => void first.push(m.text) });
    expect(first).toEqual(['first']);
    // 250 messages: bob's receive fetches them in batches of 100 (three batches).
    const n = 250;
    for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => alice.client.send(bob.client.user, `m${i + j}`)));
    const writes = countRecentWrites(bob);
    const got: string[] = [];
    const r = await bob.client.receive({ onMessage: (m) => void got.push(m.text) });
    expect(r).toEqual({ received: n, failed: 0 });
    expect(got).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
    // Three batches, each one transaction writing `recent` (the second and third also drop what
    // the first and second handed over), and one at the end for the third batch's messages.
    // One transaction per batch for the removal, as before, would make it six.
    expect(writes.n).toBe(4);
    expect(await storedInbox(bob.storage)).toEqual([]);
    // Nothing is handed over twice.
    const again: string[] = [];
    await bob.client.receive({ onMessage: (m) => void again.push(m.text) });
    expect(again).toEqual([]);
  });

  it('listen: what was handed over leaves the stored inbox by the next batch, after a short idle time, or when listening ends', async () => {
    const alice = await newUserAt(unique('alice'), server.url);
    const bob = await newUserAt(unique('bob'), server.url);
    await alice.client.send(bob.client.user, 'first');
    const controller = new AbortController();
    const got: ReceivedMessage[] = [];
    let open!: () => void;
    const opened = new Promise<void>((r) => {
      open = r;
    });
    const done = bob.client.listen({ signal: controller.signal, onMessage: (m) => void got.push(m), onStatus: (s) => s.state === 'open' && open() });
    await opened;
    await until(() => got.length === 1);
    // Idle: the removal is written on its own shortly after.
    await until(async () => (await storedInbox(bob.storage)).length === 0);
    await alice.client.send(bob.client.user, 'second');
    await until(() => got.length === 2);
    controller.abort();
    await done;
    expect(await storedInbox(bob.storage)).toEqual([]);
    expect(got.map((m) => m.text)).toEqual(['first', 'second']);
  });

  it('a crash before the removal is written hands the message over again: at least once, never lost', async () => {
    const alice = await newUserAt(unique('alice'), server.url);
    const bob = await newUserAt(unique('bob'), server.url);
    await alice.client.send(bob.client.user, 'kept');
    const controller = new AbortController();
    const got: string[] = [];
    // Hold the settle: the removal of 'kept' is not written while this write is refused.
    const write = bob.storage.write.bind(bob.storage);
    let refuse = false;
    let open!: () => void;
    const opened = new Promise<void>((r) => {
      open = r;
    });
    const done = bob.client.listen({
      signal: controller.signal,
      onMessage: (m) => {
        got.push(m.text);
        refuse = true;
      },
      onStatus: (s) => s.state === 'open' && open(),
      onError: () => undefined,
    });
    bob.storage.write = (file, bytes) => (refuse && file.startsWith('recent.') ? Promise.reject(new Error('crashed')) : write(file, bytes));
    await opened;
    await until(() => got.length === 1);
    controller.abort();
    await done;
    // The process "crashed" before the removal reached the disk: the stored inbox still has it.
    expect(await storedInbox(bob.storage)).toEqual(['kept']);
    // Restarted (a new client on the same profile): handed over again.
    bob.storage.write = write;
    const restarted = await BlindrelayClient.open(bob.env);
    const again: string[] = [];
    await restarted.receive({ onMessage: (m) => void again.push(m.text) });
    expect(again).toEqual(['kept']);
    expect(await storedInbox(bob.storage)).toEqual([]);
  });
});
