/** Shared fixtures for protocol tests: users, devices, bundles and established sessions. */
import * as P from '../src/index.js';
import { createNodePrimitives } from '../src/primitives/node.js';
import type { Primitives } from '../src/primitives/types.js';
import { createWebPrimitives } from '../src/primitives/web.js';

export const nodePrimitives = createNodePrimitives();
export const webPrimitives = createWebPrimitives();
export const nobleWebPrimitives = createWebPrimitives({ forceNobleCurves: true });
export const allPrimitives: Primitives[] = [nodePrimitives, webPrimitives, nobleWebPrimitives];

export interface TestUser {
  user: string;
  master: P.SigningKeyPair;
  device: P.DeviceKeys;
  certificate: Uint8Array;
  deviceList: Uint8Array;
  spk: P.SignedPreKeyRecord;
  opks: P.OneTimePreKeyRecord[];
  pq: P.PqPreKeyRecord;
  pqLastResort: P.PqPreKeyRecord;
}

/** A fixed "now" for lists signed and verified in tests (ms since the epoch). */
export const NOW = Date.UTC(2026, 11, 3);

/** `device`'s own list entry with its proof of possession as a device of `user`. */
export function provenEntry(p: Primitives, user: string, master: P.SigningKeyPair, device: P.DeviceKeys): Promise<P.DeviceEntry> {
  return P.proveDeviceEntry(p, user, master.publicKey, P.deviceEntryOf(device), device.signing.seed);
}

export async function makeUser(p: Primitives, user: string, oneTimeCount = 4): Promise<TestUser> {
  const master = await P.generateMasterKey(p);
  const device = await P.generateDeviceKeys(p);
  const certificate = await P.issueDeviceCertificate(p, user, master, device);
  const deviceList = await P.signDeviceList(p, user, master, { version: 1, issuedAt: NOW }, [await provenEntry(p, user, master, device)]);
  const spk = await P.generateSignedPreKey(p, user, device, 1);
  const opks = await P.generateOneTimePreKeys(p, 100, oneTimeCount);
  const pq = await P.generatePqPreKey(p, user, device, 1, false);
  const pqLastResort = await P.generatePqPreKey(p, user, device, 2, true);
  return { user, master, device, certificate, deviceList, spk, opks, pq, pqLastResort };
}

export function bundleOf(u: TestUser, opts: { oneTime?: boolean; lastResort?: boolean } = {}): P.PreKeyBundle {
  const opk = opts.oneTime === false ? undefined : u.opks[0];
  return P.bundleFor(u.user, u.device, u.spk, opts.lastResort ? u.pqLastResort : u.pq, opk);
}

export function lookupOf(u: TestUser): P.PreKeyLookup {
  return {
    signedPreKey: (id) => (id === u.spk.id ? u.spk : undefined),
    oneTimePreKey: (id) => u.opks.find((k) => k.id === id),
    pqPreKey: (id) => [u.pq, u.pqLastResort].find((k) => k.id === id),
  };
}

/** Alice starts a session to Bob, Bob accepts the first message and replies once. */
export async function establish(p: Primitives, alice: TestUser, bob: TestUser) {
  let a = await P.initiateSession(p, { identity: alice.device.identity, certificate: alice.certificate }, bundleOf(bob));
  const first = await P.encryptMessage(p, a, P.utf8('hello'));
  a = first.state;
  const accepted = await P.acceptPreKeyMessage(
    p,
    { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) },
    { user: alice.user, masterKey: alice.master.publicKey },
    first.message,
  );
  let b = accepted.state;
  const reply = await P.encryptMessage(p, b, P.utf8('hi'));
  b = reply.state;
  a = (await P.decryptMessage(p, a, reply.message)).state;
  return { alice: a, bob: b, firstMessage: first.message };
}
