/**
 * Custody (docs/PROTOCOL.md §16; src/custody.ts, src/master-key-rotation.ts) against a real relay
 * process: primary and companion roles, migration of a device linked before custody, and
 * master-key rotation (relay authorisation, companions following, contacts refusing the key
 * change until they verify).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '@blindrelay/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlindrelayClient } from '../src/client.js';
import { DIRECTORY_MAX_AGE_MS, SENDER_LIST_MAX_AGE_MS } from '../src/directory.js';
import { KeyChangedError, NotPrimaryError, RelayError } from '../src/errors.js';
import { Profile } from '../src/profile.js';
import { type Device, deviceApi, linkDevice, newUserAt, p } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let server: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-custody-'));
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const newUser = (name: string) => newUserAt(`${name}-${process.pid}-${++counter}`, server.url);
async function texts(d: Device): Promise<string[]> {
  const out: string[] = [];
  await d.client.receive({ onMessage: (m) => void out.push(m.text) });
  return out;
}
const account = async (d: Device) => (await Profile.open(d.storage, p)).read('account');

describe('custody: primary and companion devices', () => {
  it('a linked companion never receives the master seed; only the primary approves, revokes and signs lists', async () => {
    const alice = await newUser('alice');
    const companion = await linkDevice(alice);
    expect(alice.client.primary).toBe(true);
    expect(companion.client.primary).toBe(false);
    expect((await account(companion)).masterSeed).toBeUndefined();
    expect((await account(companion)).masterKey).toEqual((await account(alice)).masterKey);
    // The companion's certificate is the master key's, for its own keys.
    const a = await account(companion);
    const cert = await P.verifyDeviceCertificate(p, a.certificate, { user: a.user, masterKey: a.masterKey });
    expect(cert.deviceId).toBe(a.deviceId);

    const code = 'BR1.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    await expect(companion.client.approve(code, { sas: '000000' })).rejects.toBeInstanceOf(NotPrimaryError);
    await expect(companion.client.revoke(alice.client.deviceId)).rejects.toMatchObject({ code: 'ERR_NOT_PRIMARY' });
    await expect(companion.client.rotateMasterKey()).rejects.toBeInstanceOf(NotPrimaryError);
    // Nothing changed: still two devices.
    expect((await alice.client.devices()).devices).toHaveLength(2);
  });

  it('a device linked before custody (holding the seed) demotes itself once the list lists it with its proof', async () => {
    const alice = await newUser('alice');
    const legacy = await linkDevice(alice);
    // What a profile linked before custody holds: a copy of the master seed.
    const seed = (await account(alice)).masterSeed as Uint8Array;
    const profile = await Profile.open(legacy.storage, p);
    await profile.write('account', { ...(await profile.read('account')), masterSeed: seed });
    const reopened = await BlindrelayClient.open(legacy.env);
    expect(reopened.primary).toBe(true);
    expect(await reopened.demoteToCompanion()).toBe(true);
    expect((await account(legacy)).masterSeed).toBeUndefined();
    const again = await BlindrelayClient.open(legacy.env);
    expect(again.whoami().primary).toBe(false);
    expect(await again.demoteToCompanion()).toBe(false);
  });
});

describe('custody: master-key rotation', () => {
  it('the relay takes a new master key only with a statement from the stored one; companions follow; contacts refuse the change until they verify', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const companion = await linkDevice(alice);
    const user = alice.client.user;
    await bob.client.send(user, 'before');
    expect(await texts(alice)).toContain('before');
    expect(await texts(companion)).toContain('before');
    await alice.client.send(bob.client.user, 'hi bob');
    expect(await texts(bob)).toContain('hi bob');
    const oldNumber = (await bob.client.safetyNumber(user)).safetyNumber;

    // A hostile party (here: bob's credentials; anyone may PUT a list) cannot rotate alice's key.
    const api = await deviceApi(bob, server.url);
    const served = await api.getUser(user);
    const current = P.decodeDeviceList(served.deviceList);
    const mallory = await P.generateMasterKey(p);
    const bare = current.devices.map(({ proof: _proof, ...d }) => d);
    const forgedList = await P.signDeviceList(p, user, mallory, { version: current.version + 1, issuedAt: Date.now() }, bare);
    const noStatement = await api.putDeviceList(user, forgedList).catch((e: unknown) => e);
    expect((noStatement as RelayError).status).toBe(403);
    const selfSigned = await P.signMasterKeyRotation(p, user, mallory, await P.generateMasterKey(p), Date.now(), []);
    const wrongOld = await api.putDeviceList(user, forgedList, undefined, selfSigned).catch((e: unknown) => e);
    expect(wrongOld).toBeInstanceOf(RelayError);
    expect((wrongOld as RelayError).status).toBe(403);
    const garbage = await api.putDeviceList(user, forgedList, undefined, new Uint8Array(50)).catch((e: unknown) => e);
    expect((garbage as RelayError).status).toBe(400);
    expect((await api.getUser(user)).masterKey).toEqual(served.masterKey);

    // The primary rotates: the companion is carried over with a new certificate.
    const r = await alice.client.rotateMasterKey();
    expect(r.dropped).toEqual([]);
    expect(r.kept.sort()).toEqual([alice.client.deviceId, companion.client.deviceId].sort());
    const after = await api.getUser(user);
    expect(after.masterKey).not.toEqual(served.masterKey);
    expect(after.rotation).toBeDefined();
    const statement = await P.verifyMasterKeyRotation(p, after.rotation as Uint8Array, { user, masterKey: served.masterKey });
    expect(statement.newMasterKey).toEqual(after.masterKey);
    expect((await account(alice)).masterKey).toEqual(after.masterKey);
    expect((await account(alice)).masterSeed).toBeDefined();

    // Bob: a changed safety number; sending is refused until he verifies it again (once the list
    // he verified in the last directoryMaxAgeMs is due for a fetch: a new process fetches at once).
    bob.clock.offset = DIRECTORY_MAX_AGE_MS + 1000;
    await expect(bob.client.send(user, 'refused')).rejects.toBeInstanceOf(KeyChangedError);
    const numbers = await bob.client.safetyNumber(user);
    expect(numbers.keyChanged).toBe(true);
    expect(numbers.newSafetyNumber).not.toBe(oldNumber);
    await bob.client.verify(user, numbers.newSafetyNumber as string);
    await bob.client.send(user, 'after rotation');
    expect(await texts(alice)).toContain('after rotation');
    // The companion follows the statement (new key pinned, new certificate) and keeps working both
    // ways: at its next send or receive once SENDER_LIST_MAX_AGE_MS passed (a new process: at once).
    companion.clock.offset = SENDER_LIST_MAX_AGE_MS + 1000;
    expect(await texts(companion)).toContain('after rotation');
    await companion.client.send(bob.client.user, 'from the companion');
    const c = await account(companion);
    expect(c.masterKey).toEqual(after.masterKey);
    expect(c.masterSeed).toBeUndefined();
    await P.verifyDeviceCertificate(p, c.certificate, { user, masterKey: after.masterKey });
    expect(await texts(bob)).toContain('from the companion');
    // And the primary gets the companion's sync copy, under the new certificates.
    expect(await texts(alice)).toContain('from the companion');
  });
});
