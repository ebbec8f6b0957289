/**
 * Signed device lists (rollback, signer, shape), device certificates and prekey bundles checked
 * against the device list: every way the server could substitute or replay a key is refused with
 * the error code docs/PROTOCOL.md §4–§6 promise.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Writer } from '../src/codec.js';
import * as P from '../src/index.js';
import type { Primitives } from '../src/primitives/types.js';
import { SIGNATURE_LABELS, type SignatureLabel, signWithLabel } from '../src/signature.js';
import { caught, flipBit } from './adversary.js';
import { allPrimitives, bundleOf, lookupOf, makeUser, nodePrimitives, type TestUser } from './helpers.js';

type ErrorClass = abstract new (...args: never[]) => P.BlindrelayError;

async function expectError(fn: () => Promise<unknown> | unknown, cls: ErrorClass, code: P.ErrorCode, what: string): Promise<void> {
  const e = await caught(fn, what);
  expect(e, `${what}: ${String(e)}`).toBeInstanceOf(cls);
  expect((e as P.BlindrelayError).code, what).toBe(code);
}

/** Hand-made device list encoding (docs/PROTOCOL.md §5), so the tests can sign what signDeviceList refuses to. */
function listBody(user: string, masterKey: Uint8Array, version: number, devices: readonly P.DeviceEntry[], count = devices.length): Uint8Array {
  const u = P.utf8(user);
  const w = new Writer().u8(2).u8(u.length).fixed(u, u.length).fixed(masterKey, 32).u64(version).u16(count);
  for (const d of devices) {
    w.u32(d.deviceId).fixed(d.signingKey, 32).fixed(d.identityKey, 32);
    if (d.fileKey) w.u8(1).fixed(d.fileKey, 32);
    else w.u8(0);
  }
  return w.finish();
}

function certificateBody(user: string, masterKey: Uint8Array, device: P.DeviceKeys): Uint8Array {
  const u = P.utf8(user);
  return new Writer()
    .u8(1)
    .u8(u.length)
    .fixed(u, u.length)
    .fixed(masterKey, 32)
    .u32(device.deviceId)
    .fixed(device.signing.publicKey, 32)
    .fixed(device.identity.publicKey, 32)
    .finish();
}

async function signed(p: Primitives, seed: Uint8Array, label: SignatureLabel, body: Uint8Array): Promise<Uint8Array> {
  return P.concat(body, await signWithLabel(p, seed, label, body));
}

async function devices(p: Primitives, ids: number[]): Promise<P.DeviceEntry[]> {
  const out: P.DeviceEntry[] = [];
  for (const id of ids) {
    const d = await P.generateDeviceKeys(p, id);
    out.push({ deviceId: d.deviceId, signingKey: d.signing.publicKey, identityKey: d.identity.publicKey });
  }
  return out;
}

describe.each(allPrimitives.map((p) => [p.name, p] as const))('device lists, certificates and bundles with %s primitives', (_name, p) => {
  let alice: TestUser;
  let mallory: TestUser; // another user's keys, also claiming to be "alice" where useful
  let trusted: P.TrustedUser;
  let devs: P.DeviceEntry[];
  beforeAll(async () => {
    alice = await makeUser(p, 'alice');
    mallory = await makeUser(p, 'mallory');
    trusted = { user: 'alice', masterKey: alice.master.publicKey };
    devs = await devices(p, [5, 17, 4242]);
  });

  describe('device list versions only grow', () => {
    it('a newer version is accepted; an older one is a RollbackError', async () => {
      const v1 = await P.verifyDeviceList(p, await P.signDeviceList(p, 'alice', alice.master, 1, devs.slice(0, 1)), trusted);
      const v2bytes = await P.signDeviceList(p, 'alice', alice.master, 2, devs.slice(0, 2));
      const v2 = await P.verifyDeviceList(p, v2bytes, trusted, v1);
      expect(v2.version).toBe(2);
      expect(v2.devices.map((d) => d.deviceId)).toEqual([5, 17]);
      await expectError(() => P.verifyDeviceList(p, v1.encoded, trusted, v2), P.RollbackError, 'ERR_ROLLBACK', 'v1 after v2');
      // A jump forward (device removed) is fine.
      const v9 = await P.verifyDeviceList(p, await P.signDeviceList(p, 'alice', alice.master, 9, devs.slice(1, 2)), trusted, v2);
      expect(v9.devices.map((d) => d.deviceId)).toEqual([17]);
      await expectError(() => P.verifyDeviceList(p, v2bytes, trusted, v9), P.RollbackError, 'ERR_ROLLBACK', 'v2 after v9');
    });

    it('the same version with different content is a RollbackError; the same bytes again are accepted', async () => {
      const a = await P.signDeviceList(p, 'alice', alice.master, 7, devs.slice(0, 2));
      const b = await P.signDeviceList(p, 'alice', alice.master, 7, devs.slice(0, 3));
      const held = await P.verifyDeviceList(p, a, trusted);
      await expectError(() => P.verifyDeviceList(p, b, trusted, held), P.RollbackError, 'ERR_ROLLBACK', 'v7 with other devices');
      const again = await P.verifyDeviceList(p, a.slice(), trusted, held);
      expect(again.encoded).toEqual(held.encoded);
      // The input order of devices does not matter: signDeviceList sorts, so the bytes are identical.
      const reordered = await P.signDeviceList(p, 'alice', alice.master, 7, [devs[1], devs[0]] as P.DeviceEntry[]);
      expect(reordered).toEqual(a);
      await P.verifyDeviceList(p, reordered, trusted, held);
    });

    it('a rolled-back list is refused even when it is otherwise perfectly valid and signed', async () => {
      const old = await P.signDeviceList(p, 'alice', alice.master, 3, devs);
      const held = await P.verifyDeviceList(p, await P.signDeviceList(p, 'alice', alice.master, 4, devs), trusted);
      await P.verifyDeviceList(p, old, trusted); // valid on its own
      await expectError(() => P.verifyDeviceList(p, old, trusted, held), P.RollbackError, 'ERR_ROLLBACK', 'v3 after v4');
    });
  });

  describe('device list signer and shape', () => {
    it('a list signed by another master key is an UnknownSignerError', async () => {
      const forged = await P.signDeviceList(p, 'alice', mallory.master, 99, devs);
      await expectError(() => P.verifyDeviceList(p, forged, trusted), P.UnknownSignerError, 'ERR_UNKNOWN_SIGNER', 'mallory-signed list');
    });

    it('a list naming the trusted master key but signed by another is a SignatureError', async () => {
      const forged = await signed(p, mallory.master.seed, SIGNATURE_LABELS.deviceList, listBody('alice', alice.master.publicKey, 99, devs));
      await expectError(() => P.verifyDeviceList(p, forged, trusted), P.SignatureError, 'ERR_BAD_SIGNATURE', 'wrong signer');
      const list = await P.signDeviceList(p, 'alice', alice.master, 99, devs);
      await expectError(() => P.verifyDeviceList(p, flipBit(list, (list.length - 1) * 8), trusted), P.SignatureError, 'ERR_BAD_SIGNATURE', 'flipped signature');
      // A signature made for another structure (a certificate) does not verify as a list.
      const certSigned = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceCertificate, listBody('alice', alice.master.publicKey, 99, devs));
      await expectError(() => P.verifyDeviceList(p, certSigned, trusted), P.SignatureError, 'ERR_BAD_SIGNATURE', 'certificate label');
    });

    it('file keys (format 2): published per device, absent ones allowed; format 1 lists still verify without them', async () => {
      const keys = await Promise.all([1, 2].map((id) => P.generateDeviceKeys(p, id)));
      const entries: P.DeviceEntry[] = [
        { deviceId: 1, signingKey: keys[0]!.signing.publicKey, identityKey: keys[0]!.identity.publicKey, fileKey: keys[0]!.file!.publicKey },
        { deviceId: 2, signingKey: keys[1]!.signing.publicKey, identityKey: keys[1]!.identity.publicKey },
      ];
      const list = await P.verifyDeviceList(p, await P.signDeviceList(p, 'alice', alice.master, 3, entries), trusted);
      expect(list.format).toBe(2);
      expect(list.devices[0]?.fileKey).toEqual(keys[0]!.file!.publicKey);
      expect(list.devices[1]?.fileKey).toBeUndefined();
      expect(keys[0]!.file!.publicKey).not.toEqual(keys[0]!.identity.publicKey);
      await expectError(
        () => P.signDeviceList(p, 'alice', alice.master, 4, [{ ...entries[0]!, fileKey: entries[0]!.identityKey }]),
        P.InvalidArgumentError,
        'ERR_INVALID_ARGUMENT',
        'file key = identity key',
      );
      await expectError(
        () => P.signDeviceList(p, 'alice', alice.master, 4, [{ ...entries[0]!, fileKey: new Uint8Array(32) }]),
        P.InvalidArgumentError,
        'ERR_INVALID_ARGUMENT',
        'low-order file key',
      );
      // Format 1 (hand-made: the library no longer writes it).
      const u = P.utf8('alice');
      const w = new Writer().u8(1).u8(u.length).fixed(u, u.length).fixed(alice.master.publicKey, 32).u64(5).u16(2);
      for (const d of entries) w.u32(d.deviceId).fixed(d.signingKey, 32).fixed(d.identityKey, 32);
      const v1 = await P.verifyDeviceList(p, await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceList, w.finish()), trusted, list);
      expect(v1.format).toBe(1);
      expect(v1.devices.map((d) => d.fileKey)).toEqual([undefined, undefined]);
      // Flipping format 2 → 1 on a signed list breaks it (layout and signature differ).
      const relabelled = list.encoded.slice();
      relabelled[0] = 1;
      await expect(P.verifyDeviceList(p, relabelled, trusted)).rejects.toBeInstanceOf(P.BlindrelayError);
    });

    it('the hand-made encoder matches signDeviceList (so the crafted cases below fail for their stated reason)', async () => {
      const made = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceList, listBody('alice', alice.master.publicKey, 12, devs));
      expect(made).toEqual(await P.signDeviceList(p, 'alice', alice.master, 12, devs));
      await P.verifyDeviceList(p, made, trusted);
    });

    it('duplicate device ids: InvalidArgumentError when signing, DecodeError for a crafted, validly signed encoding', async () => {
      const d = devs[0] as P.DeviceEntry;
      const twin = { ...(devs[1] as P.DeviceEntry), deviceId: d.deviceId };
      await expectError(() => P.signDeviceList(p, 'alice', alice.master, 2, [d, twin]), P.InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'sign duplicates');
      for (const entries of [
        [d, d],
        [d, twin],
        [devs[1], devs[0]], // not ascending
        [devs[0], devs[2], devs[1]],
      ] as P.DeviceEntry[][]) {
        const crafted = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceList, listBody('alice', alice.master.publicKey, 2, entries));
        await expectError(() => P.decodeDeviceList(crafted), P.DecodeError, 'ERR_DECODE', 'decode crafted');
        await expectError(() => P.verifyDeviceList(p, crafted, trusted), P.DecodeError, 'ERR_DECODE', 'verify crafted');
      }
    });

    it('a list for another user, even signed by the trusted master key, is refused', async () => {
      const other = await P.signDeviceList(p, 'mallory', alice.master, 5, devs);
      await expectError(() => P.verifyDeviceList(p, other, trusted), P.DecodeError, 'ERR_DECODE', 'list for mallory');
      const malloryList = await P.verifyDeviceList(p, mallory.deviceList, { user: 'mallory', masterKey: mallory.master.publicKey });
      await expectError(() => P.verifyDeviceList(p, malloryList.encoded, trusted), P.DecodeError, 'ERR_DECODE', "mallory's own list as alice's");
    });

    it('at most MAX_DEVICES devices: 100 is fine, 101 refused when signing and when crafted', async () => {
      const many: P.DeviceEntry[] = [];
      const base = devs[0] as P.DeviceEntry;
      for (let i = 1; i <= P.MAX_DEVICES + 1; i++) many.push({ ...base, deviceId: i * 3 });
      const hundred = await P.signDeviceList(p, 'alice', alice.master, 1, many.slice(0, P.MAX_DEVICES));
      expect((await P.verifyDeviceList(p, hundred, trusted)).devices).toHaveLength(100);
      await expectError(() => P.signDeviceList(p, 'alice', alice.master, 1, many), P.InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'sign 101');
      const crafted = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceList, listBody('alice', alice.master.publicKey, 1, many));
      await expectError(() => P.verifyDeviceList(p, crafted, trusted), P.DecodeError, 'ERR_DECODE', 'crafted 101');
    });

    it('signDeviceList refuses bad arguments', async () => {
      const d = devs[0] as P.DeviceEntry;
      const bad: [string, () => Promise<unknown>][] = [
        ['version 0', () => P.signDeviceList(p, 'alice', alice.master, 0, devs)],
        ['version 1.5', () => P.signDeviceList(p, 'alice', alice.master, 1.5, devs)],
        ['version 2^53', () => P.signDeviceList(p, 'alice', alice.master, 2 ** 53, devs)],
        ['device id 0', () => P.signDeviceList(p, 'alice', alice.master, 1, [{ ...d, deviceId: 0 }])],
        ['device id 2^32', () => P.signDeviceList(p, 'alice', alice.master, 1, [{ ...d, deviceId: 2 ** 32 }])],
        ['low-order identity key', () => P.signDeviceList(p, 'alice', alice.master, 1, [{ ...d, identityKey: new Uint8Array(32) }])],
        ['short signing key', () => P.signDeviceList(p, 'alice', alice.master, 1, [{ ...d, signingKey: new Uint8Array(31) }])],
        ['user name', () => P.signDeviceList(p, 'Alice', alice.master, 1, devs)],
      ];
      for (const [what, fn] of bad) await expectError(fn, P.InvalidArgumentError, 'ERR_INVALID_ARGUMENT', what);
    });
  });

  describe('device certificates', () => {
    it('issued for another user, or by another master key, are refused', async () => {
      await P.verifyDeviceCertificate(p, alice.certificate, trusted);
      // Issued by Alice's master key, but for "mallory".
      const forOther = await P.issueDeviceCertificate(p, 'mallory', alice.master, alice.device);
      await expectError(() => P.verifyDeviceCertificate(p, forOther, trusted), P.DecodeError, 'ERR_DECODE', 'other user');
      // Mallory's master key certifying a device as "alice".
      const byOther = await P.issueDeviceCertificate(p, 'alice', mallory.master, mallory.device);
      await expectError(() => P.verifyDeviceCertificate(p, byOther, trusted), P.UnknownSignerError, 'ERR_UNKNOWN_SIGNER', 'other master');
      // Naming Alice's master key but signed by Mallory's.
      const forged = await signed(p, mallory.master.seed, SIGNATURE_LABELS.deviceCertificate, certificateBody('alice', alice.master.publicKey, mallory.device));
      await expectError(() => P.verifyDeviceCertificate(p, forged, trusted), P.SignatureError, 'ERR_BAD_SIGNATURE', 'forged');
      // Alice's master key, but the device-list label.
      const wrongLabel = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceList, certificateBody('alice', alice.master.publicKey, alice.device));
      await expectError(() => P.verifyDeviceCertificate(p, wrongLabel, trusted), P.SignatureError, 'ERR_BAD_SIGNATURE', 'list label');
      // The hand-made body is the real one.
      const made = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceCertificate, certificateBody('alice', alice.master.publicKey, alice.device));
      expect(made).toEqual(alice.certificate);
      await expectError(() => P.issueDeviceCertificate(p, 'not valid', alice.master, alice.device), P.InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'bad user');
    });

    it("a session's first message carrying a certificate from another master key is refused", async () => {
      const bob = await makeUser(p, 'bob', 1);
      const a = await P.initiateSession(p, { identity: mallory.device.identity, certificate: mallory.certificate }, bundleOf(bob));
      const m = await P.encryptMessage(p, a, P.utf8('as mallory'));
      const local = { identity: bob.device.identity, preKeys: lookupOf(bob) };
      await expectError(() => P.acceptPreKeyMessage(p, local, trusted, m.message), P.DecryptError, 'ERR_DECRYPT', 'claims alice');
      const ok = await P.acceptPreKeyMessage(p, local, { user: 'mallory', masterKey: mallory.master.publicKey }, m.message);
      expect(ok.sender.user).toBe('mallory');
    });
  });

  describe('prekey bundles against the device list', () => {
    let bob: TestUser;
    let entry: P.DeviceEntry;
    let other: P.DeviceKeys; // a second device of Bob's
    beforeAll(async () => {
      bob = await makeUser(p, 'bob', 1);
      other = await P.generateDeviceKeys(p, 77);
      const list = await P.verifyDeviceList(
        p,
        await P.signDeviceList(p, 'bob', bob.master, 2, [
          { deviceId: bob.device.deviceId, signingKey: bob.device.signing.publicKey, identityKey: bob.device.identity.publicKey },
          { deviceId: other.deviceId, signingKey: other.signing.publicKey, identityKey: other.identity.publicKey },
        ]),
        { user: 'bob', masterKey: bob.master.publicKey },
      );
      entry = list.devices.find((d) => d.deviceId === bob.device.deviceId) as P.DeviceEntry;
    });

    it('a genuine bundle verifies', async () => {
      await P.verifyPreKeyBundle(p, P.decodePreKeyBundle(P.encodePreKeyBundle(bundleOf(bob))), entry, 'bob');
    });

    it('identity key, signing key or device id not matching the device-list entry: UnknownSignerError', async () => {
      const genuine = bundleOf(bob);
      const variants: [string, P.PreKeyBundle][] = [
        ['identity key of the other device', { ...genuine, identityKey: other.identity.publicKey }],
        ['signing key of the other device', { ...genuine, signingKey: other.signing.publicKey }],
        ['device id of the other device', { ...genuine, deviceId: other.deviceId }],
        ["Mallory's identity key", { ...genuine, identityKey: mallory.device.identity.publicKey }],
      ];
      for (const [what, b] of variants) {
        const decoded = P.decodePreKeyBundle(P.encodePreKeyBundle(b));
        await expectError(() => P.verifyPreKeyBundle(p, decoded, entry, 'bob'), P.UnknownSignerError, 'ERR_UNKNOWN_SIGNER', what);
      }
      // The other device's own bundle, checked against this device's entry.
      const spk = await P.generateSignedPreKey(p, other, 1);
      const pq = await P.generatePqPreKey(p, other, 1, false);
      const otherBundle = P.bundleFor('bob', other, spk, pq);
      await expectError(() => P.verifyPreKeyBundle(p, otherBundle, entry, 'bob'), P.UnknownSignerError, 'ERR_UNKNOWN_SIGNER', 'other device');
      await expectError(() => P.verifyPreKeyBundle(p, genuine, entry, 'mallory'), P.DecodeError, 'ERR_DECODE', 'other user');
    });

    it('signatures swapped between the signed prekey and the PQ prekey, or made by another key or label: SignatureError', async () => {
      const g = bundleOf(bob);
      const spkBody = new Writer().u32(g.signedPreKey.id).rest(P.encodeEC(g.signedPreKey.publicKey)).finish();
      const pqBody = new Writer()
        .u8(g.pqPreKey.lastResort ? 1 : 0)
        .u32(g.pqPreKey.id)
        .rest(P.encodeKEM(g.pqPreKey.publicKey))
        .finish();
      const variants: [string, P.PreKeyBundle][] = [
        [
          'swapped',
          { ...g, signedPreKey: { ...g.signedPreKey, signature: g.pqPreKey.signature }, pqPreKey: { ...g.pqPreKey, signature: g.signedPreKey.signature } },
        ],
        ['SPK signature on the PQ prekey', { ...g, pqPreKey: { ...g.pqPreKey, signature: g.signedPreKey.signature } }],
        ['PQ signature on the SPK', { ...g, signedPreKey: { ...g.signedPreKey, signature: g.pqPreKey.signature } }],
        [
          'SPK body signed with the PQ label',
          { ...g, signedPreKey: { ...g.signedPreKey, signature: await signWithLabel(p, bob.device.signing.seed, SIGNATURE_LABELS.pqPreKey, spkBody) } },
        ],
        [
          'PQ body signed with the SPK label',
          { ...g, pqPreKey: { ...g.pqPreKey, signature: await signWithLabel(p, bob.device.signing.seed, SIGNATURE_LABELS.signedPreKey, pqBody) } },
        ],
        [
          'SPK signed by the other device',
          { ...g, signedPreKey: { ...g.signedPreKey, signature: await signWithLabel(p, other.signing.seed, SIGNATURE_LABELS.signedPreKey, spkBody) } },
        ],
        ['SPK id changed', { ...g, signedPreKey: { ...g.signedPreKey, id: g.signedPreKey.id + 1 } }],
        ['PQ prekey presented as last-resort', { ...g, pqPreKey: { ...g.pqPreKey, lastResort: !g.pqPreKey.lastResort } }],
        ['PQ prekey id changed', { ...g, pqPreKey: { ...g.pqPreKey, id: g.pqPreKey.id + 1 } }],
        ['SPK from another prekey record', { ...g, signedPreKey: { ...g.signedPreKey, publicKey: bob.opks[0]?.publicKey as Uint8Array } }],
      ];
      // The hand-made bodies are the real ones (else the label cases would prove nothing).
      expect(await signWithLabel(p, bob.device.signing.seed, SIGNATURE_LABELS.signedPreKey, spkBody)).toEqual(g.signedPreKey.signature);
      expect(await signWithLabel(p, bob.device.signing.seed, SIGNATURE_LABELS.pqPreKey, pqBody)).toEqual(g.pqPreKey.signature);
      for (const [what, b] of variants) {
        const decoded = P.decodePreKeyBundle(P.encodePreKeyBundle(b));
        await expectError(() => P.verifyPreKeyBundle(p, decoded, entry, 'bob'), P.SignatureError, 'ERR_BAD_SIGNATURE', what);
      }
    });
  });
});

describe('device list version model (fast-check, node)', () => {
  it('a client accepts exactly the lists whose version grows, or repeats the held bytes', async () => {
    const p = nodePrimitives;
    const alice = await makeUser(p, 'alice');
    const trusted = { user: 'alice', masterKey: alice.master.publicKey };
    const pool = await devices(p, [1, 2, 3, 4]);
    let accepted = 0;
    let rolledBack = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.subarray([0, 1, 2, 3], { minLength: 1 })), { minLength: 1, maxLength: 12 }),
        async (offers) => {
          let held: P.DeviceList | undefined;
          for (const [version, which] of offers) {
            const bytes = await P.signDeviceList(
              p,
              'alice',
              alice.master,
              version,
              which.map((i) => pool[i] as P.DeviceEntry),
            );
            const shouldAccept = !held || version > held.version || (version === held.version && P.equal(bytes, held.encoded));
            try {
              held = await P.verifyDeviceList(p, bytes, trusted, held);
              expect(shouldAccept, `version ${version} accepted`).toBe(true);
              accepted++;
            } catch (e) {
              expect(e).toBeInstanceOf(P.RollbackError);
              expect(shouldAccept, `version ${version} refused`).toBe(false);
              rolledBack++;
            }
          }
        },
      ),
      { numRuns: 60 },
    );
    expect(accepted).toBeGreaterThan(50);
    expect(rolledBack).toBeGreaterThan(50);
  });
});
