/**
 * Known weakness K2, security-2026-12.md: restoring an older copy of a profile rewound the Double
 * Ratchet, so the next message was encrypted again with a message key and AES-GCM nonce already
 * used (the XOR of two plaintexts for whoever holds both ciphertexts, and GCM forgeries).
 *
 * The attack (an accident as often as not: a backup restore, a copied profile directory, a VM
 * snapshot), against a real relay: Alice's profile directory is copied; she sends; the copy is
 * put back; she sends again.
 *
 * What stops it now (docs/API.md §5a, PROTOCOL.md §13.2, packages/client/src/send-mark.ts): the
 * profile holds a send mark, + 1 and signed by the device key before every send and written to
 * disk with the advanced sessions before the ciphertext leaves; the relay keeps the highest mark
 * per device and refuses a send whose mark is not above it (409 send_mark_stale). Before the first
 * send of an opened profile the SDK compares the relay's (signed) mark with the profile's and
 * refuses to encrypt from an older copy: ProfileRolledBackError (ERR_PROFILE_ROLLED_BACK), which
 * says what happened and what to do. Nothing leaves the device, so no ratchet header (key,
 * counter) reaches the relay twice. `recoverFromRollback` (CLI `device recover`) then starts new
 * sessions; a crash between the profile write and the POST does not lock the user out; a relay
 * cannot fake a rollback (the marks it shows must carry the device's signature).
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlindrelayClient } from '../../packages/client/src/client.js';
import { ProfileRolledBackError, RelayError } from '../../packages/client/src/errors.js';
import { FileStorage } from '../../packages/client/src/storage/fs.js';
import { type Device, environment, newUserAt } from '../../packages/client/test/devices.js';
import { startRelay, type TestRelay } from '../../packages/client/test/relay-fixture.js';
import * as P from '../../packages/protocol/test/internals.js';

let dir: string;
let relay: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-k2-'));
  relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every ciphertext a device POSTs to /v1/messages, as the relay receives it. */
function recordSends(d: { hook: Device['hook'] }, into: Uint8Array[]) {
  d.hook.fn = async (u, init, next) => {
    if ((init?.method ?? 'GET') === 'POST' && new URL(u).pathname === '/v1/messages') {
      const body = JSON.parse(String(init?.body)) as { messages: { body: string }[] };
      for (const m of body.messages) into.push(new Uint8Array(Buffer.from(m.body, 'base64url')));
    }
    return next();
  };
}

/** The Double Ratchet header (sending ratchet key, counter) of a message: what must never repeat. */
function headerOf(body: Uint8Array): string {
  const inner = P.messageType(body) === P.MESSAGE_TYPE_PREKEY ? P.decodePreKeyMessage(body).message : P.decodeRatchetMessage(body);
  return `${Buffer.from(inner.header.ratchetKey).toString('hex')}/${inner.header.n}`;
}

/** Alice with a profile directory on disk, so it can be copied and put back as a user would. */
async function aliceOnDisk(name: string) {
  const profileDir = join(dir, name);
  const e = environment(new FileStorage(profileDir));
  const client = await BlindrelayClient.createAccount(e.env, { servers: relay.url, user: `${name}-${process.pid}` });
  const device: Device = { client, ...e };
  const reopen = async () => {
    device.client.close();
    const again = environment(new FileStorage(profileDir));
    again.hook.fn = device.hook.fn;
    Object.assign(device, { ...again, client: await BlindrelayClient.open(again.env) });
    return device;
  };
  return { device, profileDir, reopen };
}

const texts = async (d: Device) => {
  const out: string[] = [];
  await d.client.receive({ onMessage: (m) => void out.push(m.text) });
  return out;
};

describe('K2: restoring an older copy of a profile', () => {
  it('refuses to send from it (typed error, nothing sent, no ratchet header reused); recovery starts new sessions', async () => {
    const bob = await newUserAt(`bob-${process.pid}`, relay.url);
    const alice = await aliceOnDisk('alice');
    const sent: Uint8Array[] = [];
    recordSends(alice.device, sent);
    await alice.device.client.send(bob.client.user, 'one');
    const copy = join(dir, 'alice-copy');
    await cp(alice.profileDir, copy, { recursive: true });
    await alice.device.client.send(bob.client.user, 'two');
    expect(await texts(bob)).toEqual(['one', 'two']);

    // The copy is put back (the newer files gone), and the profile opened again.
    alice.device.client.close();
    const newer = join(dir, 'alice-newer');
    await cp(alice.profileDir, newer, { recursive: true });
    await rm(alice.profileDir, { recursive: true });
    await cp(copy, alice.profileDir, { recursive: true });
    await alice.reopen();
    recordSends(alice.device, sent);

    const before = sent.length;
    const refused = alice.device.client.send(bob.client.user, 'three (from the old copy)');
    await expect(refused).rejects.toBeInstanceOf(ProfileRolledBackError);
    await expect(refused).rejects.toMatchObject({
      code: 'ERR_PROFILE_ROLLED_BACK',
      message: expect.stringMatching(/older copy.*reuse message keys.*blindrelay device recover/s),
    });
    expect(sent.length).toBe(before);
    // Asking again changes nothing: still refused, still nothing sent.
    await expect(alice.device.client.send(bob.client.user, 'four')).rejects.toBeInstanceOf(ProfileRolledBackError);
    expect(sent.length).toBe(before);

    // Recovery: new sessions (PQXDH from fresh prekeys), then sending works and bob reads it.
    const r = await alice.device.client.recoverFromRollback();
    expect(r.recovered).toBe(true);
    expect(r.sessions).toBeGreaterThan(0);
    await alice.device.client.send(bob.client.user, 'five');
    expect(await texts(bob)).toEqual(['five']);
    // No (ratchet key, counter) ever reached the relay twice: no message key was used again.
    const headers = sent.map(headerOf);
    expect(new Set(headers).size).toBe(headers.length);
    // A second recovery finds nothing to do.
    expect((await alice.device.client.recoverFromRollback()).recovered).toBe(false);

    // The newer copy, if still around, is now the older one: refused in turn.
    const other = environment(new FileStorage(newer));
    const stale = await BlindrelayClient.open(other.env);
    await expect(stale.send(bob.client.user, 'from the other copy')).rejects.toBeInstanceOf(ProfileRolledBackError);
    stale.close();
    alice.device.client.close();
  });

  it('a crash between the profile write and the POST does not lock the user out', async () => {
    const bob = await newUserAt(`bob2-${process.pid}`, relay.url);
    const alice = await aliceOnDisk('alice2');
    await alice.device.client.send(bob.client.user, 'one');
    // The POST never leaves (the process "dies" after writing the profile): the send fails.
    alice.device.hook.fn = async (u, init, next) => {
      if ((init?.method ?? 'GET') === 'POST' && new URL(u).pathname === '/v1/messages')
        throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
      return next();
    };
    await expect(alice.device.client.send(bob.client.user, 'lost')).rejects.toMatchObject({ code: 'ERR_UNREACHABLE' });
    alice.device.hook.fn = null;
    // Next run: the profile is ahead of the relay, which is fine.
    await alice.reopen();
    await alice.device.client.send(bob.client.user, 'two');
    expect(await texts(bob)).toEqual(['one', 'two']);
    alice.device.client.close();
  });

  it('a relay cannot fake a rollback: a mark without the device’s signature is refused as a bad answer, nothing sent', async () => {
    const bob = await newUserAt(`bob3-${process.pid}`, relay.url);
    const alice = await aliceOnDisk('alice3');
    await alice.device.client.send(bob.client.user, 'one');
    await alice.reopen();
    const sent: Uint8Array[] = [];
    alice.device.hook.fn = async (u, init, next) => {
      const path = new URL(u).pathname;
      if (path === '/v1/send-mark') return Response.json({ mark: 1_000_000, signature: Buffer.from(new Uint8Array(64).fill(7)).toString('base64url') });
      if ((init?.method ?? 'GET') === 'POST' && path === '/v1/messages') sent.push(new Uint8Array(0));
      return next();
    };
    const e = await alice.device.client.send(bob.client.user, 'two').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RelayError);
    expect(e).not.toBeInstanceOf(ProfileRolledBackError);
    expect(sent).toEqual([]);
    // An honest answer again: sending works, the user was never told to recover.
    alice.device.hook.fn = null;
    await alice.device.client.send(bob.client.user, 'three');
    expect(await texts(bob)).toEqual(['one', 'three']);
    alice.device.client.close();
  });
});
