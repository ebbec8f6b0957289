/**
 * Profiles and accounts from before protocol 2 (identity-bound sessions, device lists with proofs
 * of possession and an issue time; docs/PROTOCOL.md §5.3, docs/DECISIONS.md 2026-12-03) keep
 * working: opening one migrates it (profile-migration.ts), and its next receive publishes its
 * prekeys and its list again in the current formats (own-list.ts).
 *
 * The old profiles here are written record by record as the previous code wrote them: a format-1
 * device certificate, prekeys signed under the v1 labels, a format-2 device list (no issue time,
 * no proofs) registered with the relay, and a session in the version-1 state format.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as P from '../../protocol/test/internals.js';
import { BlindrelayClient } from '../src/client.js';
import { type AccountRecord, type PreKeysRecord, Profile, type ReceivedMessage, sessionKey } from '../src/profile.js';
import { type Device, environment, newUserAt, p } from './devices.js';
import { FAST_KDF } from './fixtures.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let relay: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-migration-'));
  relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');

// ---- the previous code's formats (docs/PROTOCOL.md as of protocol 1) ----------------------------

const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
const userField = (user: string) => P.concat(Uint8Array.of(P.utf8(user).length), P.utf8(user));
async function signedV1(seed: Uint8Array, label: string, body: Uint8Array): Promise<Uint8Array> {
  return p.ed25519Sign(seed, P.concat(P.utf8(label), Uint8Array.of(0), body));
}
/** Device list format 2: 0x02 | user | masterKey | version u64 | count u16 | (id | signingKey | identityKey | hasFileKey | fileKey?)* | signature. */
async function listV2(user: string, master: P.SigningKeyPair, version: number, devices: readonly P.DeviceKeys[]): Promise<Uint8Array> {
  const entries = [...devices]
    .sort((a, b) => a.deviceId - b.deviceId)
    .map((d) => P.concat(u32(d.deviceId), d.signing.publicKey, d.identity.publicKey, d.file ? P.concat(Uint8Array.of(1), d.file.publicKey) : Uint8Array.of(0)));
  const body = P.concat(Uint8Array.of(2), userField(user), master.publicKey, u32(0), u32(version), Uint8Array.of(0, devices.length), ...entries);
  return P.concat(body, await signedV1(master.seed, 'Blindrelay_DeviceList_v1', body));
}
async function certificateV1(user: string, master: P.SigningKeyPair, d: P.DeviceKeys): Promise<Uint8Array> {
  const body = P.concat(Uint8Array.of(1), userField(user), master.publicKey, u32(d.deviceId), d.signing.publicKey, d.identity.publicKey);
  return P.concat(body, await signedV1(master.seed, 'Blindrelay_DeviceCertificate_v1', body));
}
async function prekeysV1(d: P.DeviceKeys, now: number): Promise<PreKeysRecord> {
  const spk = await P.generateX25519(p);
  const spkSig = await signedV1(d.signing.seed, 'Blindrelay_SignedPreKey_v1', P.concat(u32(1), P.encodeEC(spk.publicKey)));
  const pq = (id: number, lastResort: boolean) => {
    const kp = p.mlkem768KeyPair(p.randomBytes(64));
    return signedV1(d.signing.seed, 'Blindrelay_PqPreKey_v1', P.concat(Uint8Array.of(lastResort ? 1 : 0), u32(id), P.encodeKEM(kp.publicKey))).then(
      (signature) => ({
        id,
        lastResort,
        publicKey: kp.publicKey,
        privateKey: kp.privateKey,
        signature,
        createdAt: now,
      }),
    );
  };
  const oneTime = await P.generateOneTimePreKeys(p, 1, 3);
  return {
    signed: [{ id: 1, publicKey: spk.publicKey, privateKey: spk.privateKey, signature: spkSig, createdAt: now }],
    oneTime: oneTime.map((k) => ({ id: k.id, publicKey: k.publicKey, privateKey: k.privateKey })),
    pq: [await pq(1, false), await pq(2, true)],
    nextSignedId: 2,
    nextOneTimeId: 4,
    nextPqId: 3,
  };
}

/** A profile of `user`'s device `d`, as the previous code left it, holding `list` as its own list. */
async function oldProfile(user: string, master: P.SigningKeyPair, d: P.DeviceKeys, list: Uint8Array): Promise<Omit<Device, 'client'>> {
  const e = environment();
  const now = Date.now();
  const account: AccountRecord = {
    user,
    deviceId: d.deviceId,
    deviceName: `old-${d.deviceId}`,
    servers: [relay.url],
    masterSeed: master.seed,
    masterKey: master.publicKey,
    signingSeed: d.signing.seed,
    signingKey: d.signing.publicKey,
    identityPrivate: d.identity.privateKey,
    identityPublic: d.identity.publicKey,
    ...(d.file ? { filePrivate: d.file.privateKey, filePublic: d.file.publicKey } : {}),
    certificate: await certificateV1(user, master, d),
    createdAt: now,
  };
  const { profile, commitNew } = await Profile.create(e.storage, p, { kdf: FAST_KDF });
  await profile.write('account', account);
  await profile.write('prekeys', await prekeysV1(d, now));
  await profile.write('contacts', {
    contacts: new Map([[user, { masterKey: master.publicKey, verified: true, pinnedAt: now, deviceList: list, keyChange: null }]]),
  });
  // A session in the version-1 state format with some peer's device.
  const peer = await P.generateX25519(p);
  const stateV1 = P.serializeSession({
    localIdentity: d.identity.publicKey,
    remoteIdentity: peer.publicKey,
    baseKey: peer.publicKey,
    rootKey: p.randomBytes(32),
    ratchet: await P.generateX25519(p),
    remoteRatchet: null,
    send: null,
    recv: null,
    pn: 0,
    skipped: new Map(),
    pendingPreKey: null,
  });
  stateV1[0] = 1;
  await profile.transact(async (tx) => {
    tx.setSession(sessionKey('zed', 5), { current: { baseKey: peer.publicKey, remoteIdentity: peer.publicKey, bytes: stateV1 }, previous: [] });
  });
  await commitNew();
  profile.close();
  return e;
}

async function relayCall(method: string, path: string, body: unknown): Promise<Response> {
  return fetch(relay.url + path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}
/** The list the relay serves for `user`, decoded. */
async function served(user: string, as: Device): Promise<P.DeviceList> {
  await as.client.safetyNumber(user); // a lookup through the SDK fetches it
  const bytes = (await (await Profile.open(as.storage, p)).read('contacts')).contacts.get(user)?.deviceList as Uint8Array;
  return P.decodeDeviceList(bytes);
}
async function inbox(d: Device): Promise<ReceivedMessage[]> {
  const out: ReceivedMessage[] = [];
  await d.client.receive({ onMessage: (m) => void out.push(m) });
  return out;
}

describe('a profile made by the previous code', () => {
  it('opens, migrates, publishes its list in format 3 and talks again', async () => {
    const user = unique('olga');
    const master = await P.generateMasterKey(p);
    const d = await P.generateDeviceKeys(p);
    const list = await listV2(user, master, 1, [d]);
    // The relay registered it then (a format-2 list; its v1-signed prekeys were dropped by migration 007).
    expect((await relayCall('POST', '/v1/accounts', { user, masterKey: b64(master.publicKey), deviceList: b64(list) })).status).toBe(201);
    const old = await oldProfile(user, master, d, list);
    const bob = await newUserAt(unique('bob'), relay.url);

    // Before it migrates, current clients refuse its list: no issue time, no proofs.
    await expect(bob.client.send(user, 'too early')).rejects.toMatchObject({ code: 'ERR_STALE_DEVICE_LIST' });

    const olga: Device = { client: await BlindrelayClient.open(old.env), ...old };
    const profile = await Profile.open(olga.storage, p);
    const account = await profile.read('account');
    expect(account.certificate[0]).toBe(P.DEVICE_CERTIFICATE_VERSION);
    expect(await P.verifyDeviceCertificate(p, account.certificate, { user, masterKey: master.publicKey })).toMatchObject({ deviceId: d.deviceId });
    expect(await profile.transact((tx) => tx.sessionKeys())).toEqual([]); // the unbound session is gone
    const keys = await profile.read('prekeys');
    expect(keys.signed.map((k) => [k.id, k.pending])).toEqual([[2, true]]);
    expect(keys.pq.map((k) => [k.id, k.lastResort, k.pending])).toEqual([[3, true, true]]);
    expect(keys.oneTime).toHaveLength(3); // unsigned: kept

    // Its next receive publishes the new prekeys and re-signs its list (format 3, with its proof).
    expect(await inbox(olga)).toEqual([]);
    const now = await served(user, bob);
    expect([now.format, now.version, now.devices.map((x) => [x.deviceId, x.proof !== undefined])]).toEqual([P.DEVICE_LIST_FORMAT, 2, [[d.deviceId, true]]]);
    expect(Math.abs(Date.now() - now.issuedAt)).toBeLessThan(60_000);
    const status = await olga.client.replenishPreKeys();
    expect(status).toEqual({ oneTime: 0, pq: 0 }); // topped up already, after the migration

    await bob.client.send(user, 'hello again');
    expect((await inbox(olga)).map((m) => m.text)).toEqual(['hello again']);
    await olga.client.send(bob.client.user, 'back on protocol 2');
    expect((await inbox(bob)).map((m) => m.text)).toEqual(['back on protocol 2']);
  });

  it('a user with two old devices is reachable once both migrated; the list says which has not yet', async () => {
    const user = unique('otto');
    const master = await P.generateMasterKey(p);
    const [d1, d2] = [await P.generateDeviceKeys(p), await P.generateDeviceKeys(p)];
    const v1 = await listV2(user, master, 1, [d1]);
    expect((await relayCall('POST', '/v1/accounts', { user, masterKey: b64(master.publicKey), deviceList: b64(v1) })).status).toBe(201);
    const v2 = await listV2(user, master, 2, [d1, d2]);
    const put = await relayCall('PUT', `/v1/users/${user}/device-list`, { deviceList: b64(v2) });
    expect([put.status, await put.text()]).toEqual([204, '']);
    const [old1, old2] = [await oldProfile(user, master, d1, v2), await oldProfile(user, master, d2, v2)];
    const bob = await newUserAt(unique('bob'), relay.url);

    // The first device migrates: its entry is proved, the other's is not yet.
    const first: Device = { client: await BlindrelayClient.open(old1.env), ...old1 };
    await inbox(first);
    const half = await served(user, bob);
    expect(half.devices.map((x) => [x.deviceId, x.proof !== undefined]).sort()).toEqual(
      [
        [d1.deviceId, true],
        [d2.deviceId, false],
      ].sort(),
    );
    await expect(bob.client.send(user, 'not yet')).rejects.toMatchObject({ code: 'ERR_UNPROVEN_DEVICE' });
    // A format-2 list is no longer accepted by the relay for this user.
    expect((await relayCall('PUT', `/v1/users/${user}/device-list`, { deviceList: b64(await listV2(user, master, 9, [d1, d2])) })).status).toBe(400);

    // The second device migrates too: every entry is proved, and the user is reachable on both.
    const second: Device = { client: await BlindrelayClient.open(old2.env), ...old2 };
    await inbox(second);
    const full = await served(user, bob);
    expect(P.isFullyProven(full)).toBe(true);
    expect(await bob.client.send(user, 'now')).toMatchObject({ devices: 2 });
    expect((await inbox(first)).map((m) => m.text)).toEqual(['now']);
    expect((await inbox(second)).map((m) => m.text)).toEqual(['now']);
  });
});
