/**
 * Signed device lists (rollback, signer, shape, proofs of possession, freshness), device
 * certificates and prekey bundles checked against the device list: every way the server could
 * substitute, replay or relabel a key is refused with the error code docs/PROTOCOL.md §4–§6
 * promise.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Writer } from '../src/codec.js';
import type { Primitives } from '../src/primitives/types.js';
import { SIGNATURE_LABELS, type SignatureLabel, signWithLabel } from '../src/signature.js';
import { caught, flipBit } from './adversary.js';
import { allPrimitives, bundleOf, lookupOf, makeUser, NOW, nodePrimitives, type TestUser } from './helpers.js';
import * as P from './internals.js';

type ErrorClass = abstract new (...args: never[]) => P.BlindrelayError;

async function expectError(fn: () => Promise<unknown> | unknown, cls: ErrorClass, code: P.ErrorCode, what: string): Promise<void> {
  const e = await caught(fn, what);
  expect(e, `${what}: ${String(e)}`).toBeInstanceOf(cls);
  expect((e as P.BlindrelayError).code, what).toBe(code);
}

const DAY = 86_400_000;

/**
 * Hand-made device list encoding (docs/PROTOCOL.md §5), so the tests can sign what signDeviceList
 * refuses to. Format 3 unless `format` says 1 or 2.
 */
function listBody(
  user: string,
  masterKey: Uint8Array,
  version: number,
  devices: readonly P.DeviceEntry[],
  o: { count?: number; issuedAt?: number; format?: number } = {},
): Uint8Array {
  const format = o.format ?? 3;
  const u = P.utf8(user);
  const w = new Writer().u8(format).u8(u.length).fixed(u, u.length).fixed(masterKey, 32).u64(version);
  if (format === 3) w.u64(o.issuedAt ?? NOW);
  w.u16(o.count ?? devices.length);
  for (const d of devices) {
    w.u32(d.deviceId).fixed(d.signingKey, 32).fixed(d.identityKey, 32);
    if (format === 1) continue;
    if (d.fileKey) w.u8(1).fixed(d.fileKey, 32);
    else w.u8(0);
    if (format === 2) continue;
    if (d.proof) w.u8(1).fixed(d.proof, 64);
    else w.u8(0);
  }
  return w.finish();
}

function certificateBody(user: string, masterKey: Uint8Array, device: P.DeviceKeys, version = 2): Uint8Array {
  const u = P.utf8(user);
  return new Writer()
    .u8(version)
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

/** Devices with these ids, and their entries proved as devices of `user` under `master`. */
async function devices(p: Primitives, ids: number[], user: string, master: P.SigningKeyPair): Promise<{ keys: P.DeviceKeys[]; entries: P.DeviceEntry[] }> {
  const keys: P.DeviceKeys[] = [];
  const entries: P.DeviceEntry[] = [];
  for (const id of ids) {
    const d = await P.generateDeviceKeys(p, id);
    keys.push(d);
    entries.push(await P.proveDeviceEntry(p, user, master.publicKey, P.deviceEntryOf(d), d.signing.seed));
  }
  return { keys, entries };
}

const bare = ({ proof: _p, ...e }: P.DeviceEntry): P.DeviceEntry => e;

describe.each(allPrimitives.map((p) => [p.name, p] as const))('device lists, certificates and bundles with %s primitives', (_name, p) => {
  let alice: TestUser;
  let mallory: TestUser; // another user's keys, also claiming to be "alice" where useful
  let trusted: P.TrustedUser;
  let devs: P.DeviceEntry[];
  let devKeys: P.DeviceKeys[];
  const sign = (version: number, entries: readonly P.DeviceEntry[], issuedAt = NOW) =>
    P.signDeviceList(p, 'alice', alice.master, { version, issuedAt }, entries);
  const verify = (bytes: Uint8Array, previous?: P.DeviceList, now = NOW) => P.verifyDeviceList(p, bytes, trusted, { previous, now });
  beforeAll(async () => {
    alice = await makeUser(p, 'alice');
    mallory = await makeUser(p, 'mallory');
    trusted = { user: 'alice', masterKey: alice.master.publicKey };
    ({ keys: devKeys, entries: devs } = await devices(p, [5, 17, 4242], 'alice', alice.master));
  });

  describe('device list versions only grow', () => {
    it('a newer version is accepted; an older one is a RollbackError', async () => {
      const v1 = await verify(await sign(1, devs.slice(0, 1)));
      const v2bytes = await sign(2, devs.slice(0, 2));
      const v2 = await verify(v2bytes, v1);
      expect(v2.version).toBe(2);
      expect(v2.devices.map((d) => d.deviceId)).toEqual([5, 17]);
      await expectError(() => verify(v1.encoded, v2), P.RollbackError, 'ERR_ROLLBACK', 'v1 after v2');
      // A jump forward (device removed) is fine.
      const v9 = await verify(await sign(9, devs.slice(1, 2)), v2);
      expect(v9.devices.map((d) => d.deviceId)).toEqual([17]);
      await expectError(() => verify(v2bytes, v9), P.RollbackError, 'ERR_ROLLBACK', 'v2 after v9');
    });

    it('the same version with different content is a RollbackError; the same bytes again are accepted', async () => {
      const a = await sign(7, devs.slice(0, 2));
      const b = await sign(7, devs.slice(0, 3));
      const held = await verify(a);
      await expectError(() => verify(b, held), P.RollbackError, 'ERR_ROLLBACK', 'v7 with other devices');
      const again = await verify(a.slice(), held);
      expect(again.encoded).toEqual(held.encoded);
      // The input order of devices does not matter: signDeviceList sorts, so the bytes are identical.
      const reordered = await sign(7, [devs[1], devs[0]] as P.DeviceEntry[]);
      expect(reordered).toEqual(a);
      await verify(reordered, held);
      // Re-signed at another time: the same version with other bytes.
      await expectError(async () => verify(await sign(7, devs.slice(0, 2), NOW + 1), held), P.RollbackError, 'ERR_ROLLBACK', 'v7 re-issued');
    });

    it('a rolled-back list is refused even when it is otherwise perfectly valid and signed', async () => {
      const old = await sign(3, devs);
      const held = await verify(await sign(4, devs));
      await verify(old); // valid on its own
      await expectError(() => verify(old, held), P.RollbackError, 'ERR_ROLLBACK', 'v3 after v4');
    });

    it('a higher version issued before the held one, or in an older format, is a RollbackError', async () => {
      const held = await verify(await sign(4, devs, NOW));
      await expectError(async () => verify(await sign(5, devs, NOW - 1000), held), P.RollbackError, 'ERR_ROLLBACK', 'issued earlier');
      const legacy = await signed(
        p,
        alice.master.seed,
        SIGNATURE_LABELS.deviceListLegacy,
        listBody('alice', alice.master.publicKey, 6, devs.map(bare), { format: 2 }),
      );
      await expectError(
        () => P.verifyDeviceList(p, legacy, trusted, { previous: held, now: null, migration: true }),
        P.RollbackError,
        'ERR_ROLLBACK',
        'format 2 after 3',
      );
    });
  });

  describe('device list signer and shape', () => {
    it('a list signed by another master key is an UnknownSignerError', async () => {
      const forged = await P.signDeviceList(p, 'alice', mallory.master, { version: 99, issuedAt: NOW }, devs.map(bare));
      await expectError(() => verify(forged), P.UnknownSignerError, 'ERR_UNKNOWN_SIGNER', 'mallory-signed list');
    });

    it('a list naming the trusted master key but signed by another is a SignatureError', async () => {
      const forged = await signed(p, mallory.master.seed, SIGNATURE_LABELS.deviceList, listBody('alice', alice.master.publicKey, 99, devs));
      await expectError(() => verify(forged), P.SignatureError, 'ERR_BAD_SIGNATURE', 'wrong signer');
      const list = await sign(99, devs);
      await expectError(() => verify(flipBit(list, (list.length - 1) * 8)), P.SignatureError, 'ERR_BAD_SIGNATURE', 'flipped signature');
      // A signature made for another structure (a certificate), or under the format-1/2 label, does not verify as a list.
      for (const label of [SIGNATURE_LABELS.deviceCertificate, SIGNATURE_LABELS.deviceListLegacy, SIGNATURE_LABELS.deviceProof]) {
        const other = await signed(p, alice.master.seed, label, listBody('alice', alice.master.publicKey, 99, devs));
        await expectError(() => verify(other), P.SignatureError, 'ERR_BAD_SIGNATURE', label);
      }
    });

    it('the hand-made encoder matches signDeviceList (so the crafted cases below fail for their stated reason)', async () => {
      const made = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceList, listBody('alice', alice.master.publicKey, 12, devs));
      expect(made).toEqual(await sign(12, devs));
      const list = await verify(made);
      expect(list.format).toBe(P.DEVICE_LIST_FORMAT);
      expect(list.issuedAt).toBe(NOW);
    });

    it('file keys: published per device, absent ones allowed; never the identity key', async () => {
      const keys = await Promise.all([1, 2].map((id) => P.generateDeviceKeys(p, id)));
      const withFile = await P.proveDeviceEntry(p, 'alice', alice.master.publicKey, P.deviceEntryOf(keys[0]!), keys[0]!.signing.seed);
      const { file: _f, ...noFile } = keys[1]!;
      const without = await P.proveDeviceEntry(p, 'alice', alice.master.publicKey, P.deviceEntryOf(noFile), keys[1]!.signing.seed);
      const list = await verify(await sign(3, [withFile, without]));
      expect(list.devices[0]?.fileKey).toEqual(keys[0]!.file!.publicKey);
      expect(list.devices[1]?.fileKey).toBeUndefined();
      await expectError(
        () => sign(4, [{ ...bare(withFile), fileKey: withFile.identityKey }]),
        P.InvalidArgumentError,
        'ERR_INVALID_ARGUMENT',
        'file key = identity key',
      );
      await expectError(
        () => sign(4, [{ ...bare(withFile), fileKey: new Uint8Array(32) }]),
        P.InvalidArgumentError,
        'ERR_INVALID_ARGUMENT',
        'low-order file key',
      );
    });

    it('duplicate device ids: InvalidArgumentError when signing, DecodeError for a crafted, validly signed encoding', async () => {
      const d = devs[0] as P.DeviceEntry;
      const twin = { ...bare(devs[1] as P.DeviceEntry), deviceId: d.deviceId };
      await expectError(() => sign(2, [bare(d), twin]), P.InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'sign duplicates');
      for (const entries of [
        [d, d],
        [d, twin],
        [devs[1], devs[0]], // not ascending
        [devs[0], devs[2], devs[1]],
      ] as P.DeviceEntry[][]) {
        const crafted = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceList, listBody('alice', alice.master.publicKey, 2, entries));
        await expectError(() => P.decodeDeviceList(crafted), P.DecodeError, 'ERR_DECODE', 'decode crafted');
        await expectError(() => verify(crafted), P.DecodeError, 'ERR_DECODE', 'verify crafted');
      }
    });

    it('a list for another user, even signed by the trusted master key, is refused', async () => {
      const other = await P.signDeviceList(p, 'mallory', alice.master, { version: 5, issuedAt: NOW }, devs.map(bare));
      await expectError(() => verify(other), P.DecodeError, 'ERR_DECODE', 'list for mallory');
      const malloryList = await P.verifyDeviceList(p, mallory.deviceList, { user: 'mallory', masterKey: mallory.master.publicKey }, { now: NOW });
      await expectError(() => verify(malloryList.encoded), P.DecodeError, 'ERR_DECODE', "mallory's own list as alice's");
    });

    it('at most MAX_DEVICES devices: 100 is fine, 101 refused when signing and when crafted', async () => {
      const many: P.DeviceEntry[] = [];
      const base = bare(devs[0] as P.DeviceEntry);
      for (let i = 1; i <= P.MAX_DEVICES + 1; i++) many.push({ ...base, deviceId: i * 3 });
      // Entries without proofs (a list being migrated) keep this cheap; the count is what is tested.
      const hundred = await sign(1, many.slice(0, P.MAX_DEVICES));
      expect((await P.verifyDeviceList(p, hundred, trusted, { now: NOW, migration: true })).devices).toHaveLength(100);
      await expectError(() => sign(1, many), P.InvalidArgumentError, 'ERR_INVALID_ARGUMENT', 'sign 101');
      const crafted = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceList, listBody('alice', alice.master.publicKey, 1, many));
      await expectError(() => verify(crafted), P.DecodeError, 'ERR_DECODE', 'crafted 101');
    });

    it('signDeviceList refuses bad arguments', async () => {
      const d = bare(devs[0] as P.DeviceEntry);
      const bad: [string, () => Promise<unknown>][] = [
        ['version 0', () => sign(0, devs)],
        ['version 1.5', () => sign(1.5, devs)],
        ['version 2^53', () => sign(2 ** 53, devs)],
        ['issuedAt -1', () => sign(1, devs, -1)],
        ['issuedAt 1.5', () => sign(1, devs, 1.5)],
        ['device id 0', () => sign(1, [{ ...d, deviceId: 0 }])],
        ['device id 2^32', () => sign(1, [{ ...d, deviceId: 2 ** 32 }])],
        ['low-order identity key', () => sign(1, [{ ...d, identityKey: new Uint8Array(32) }])],
        ['short signing key', () => sign(1, [{ ...d, signingKey: new Uint8Array(31) }])],
        ['small-order signing key', () => sign(1, [{ ...d, signingKey: P.fromHex(`01${'00'.repeat(31)}`) }])],
        ['user name', () => P.signDeviceList(p, 'Alice', alice.master, { version: 1, issuedAt: NOW }, devs)],
        ['a proof that does not verify', () => sign(1, [{ ...d, proof: new Uint8Array(64) }])],
        ['a proof for another device', () => sign(1, [{ ...d, proof: (devs[1] as P.DeviceEntry).proof as Uint8Array }])],
      ];
      for (const [what, fn] of bad) await expectError(fn, P.InvalidArgumentError, 'ERR_INVALID_ARGUMENT', what);
    });

    it('a small-order or non-canonical master or signing key is refused when decoding', async () => {
      const list = await sign(3, devs);
      const masterAt = 2 + 'alice'.length;
      const signingAt = masterAt + 32 + 8 + 8 + 2 + 4;
      for (const [name, key] of [
        ['identity point', `01${'00'.repeat(31)}`],
        ['order-8 point', '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'],
        ['y = p (non-canonical)', `ed${'ff'.repeat(30)}7f`],
        ['x = 0 with the sign bit', `01${'00'.repeat(30)}80`],
      ] as const) {
        for (const at of [masterAt, signingAt]) {
          const bad = list.slice();
          bad.set(P.fromHex(key), at);
          await expectError(() => P.decodeDeviceList(bad), P.DecodeError, 'ERR_DECODE', `${name} at ${at}`);
        }
      }
    });
  });

  describe('proofs of possession (review finding M1)', () => {
    it("another user's master key cannot list alice's device: no proof, or alice's proof, does not make it mallory's", async () => {
      const keys = devKeys[0] as P.DeviceKeys;
      const malloryTrust = { user: 'mallory', masterKey: mallory.master.publicKey };
      // Without a proof: refused for peers; a migrating owner or the relay sees the entry as unproved.
      const unproven = await P.signDeviceList(p, 'mallory', mallory.master, { version: 2, issuedAt: NOW }, [P.deviceEntryOf(keys)]);
      await expectError(() => P.verifyDeviceList(p, unproven, malloryTrust, { now: NOW }), P.UnprovenDeviceError, 'ERR_UNPROVEN_DEVICE', 'no proof');
      const migrating = await P.verifyDeviceList(p, unproven, malloryTrust, { now: null, migration: true });
      expect(P.isFullyProven(migrating)).toBe(false);
      // Alice's genuine proof (made for alice under alice's master key) does not verify in mallory's list.
      await expectError(
        () => P.signDeviceList(p, 'mallory', mallory.master, { version: 2, issuedAt: NOW }, [devs[0] as P.DeviceEntry]),
        P.InvalidArgumentError,
        'ERR_INVALID_ARGUMENT',
        'sign with a foreign proof',
      );
      const crafted = await signed(
        p,
        mallory.master.seed,
        SIGNATURE_LABELS.deviceList,
        listBody('mallory', mallory.master.publicKey, 2, [devs[0] as P.DeviceEntry]),
      );
      await expectError(() => P.verifyDeviceList(p, crafted, malloryTrust, { now: NOW }), P.SignatureError, 'ERR_BAD_SIGNATURE', 'foreign proof');
      await expectError(
        () => P.verifyDeviceList(p, crafted, malloryTrust, { now: null, migration: true }),
        P.SignatureError,
        'ERR_BAD_SIGNATURE',
        'foreign proof, migrating',
      );
    });

    it('a proof covers user, device id, master key, signing, identity and file keys', async () => {
      const keys = devKeys[0] as P.DeviceKeys;
      const genuine = devs[0] as P.DeviceEntry;
      await P.verifyDeviceProof(p, 'alice', alice.master.publicKey, genuine);
      const other = await P.generateDeviceKeys(p, 5);
      const variants: [string, string, Uint8Array, P.DeviceEntry][] = [
        ['user', 'mallory', alice.master.publicKey, genuine],
        ['master key', 'alice', mallory.master.publicKey, genuine],
        ['device id', 'alice', alice.master.publicKey, { ...genuine, deviceId: 6 }],
        ['identity key', 'alice', alice.master.publicKey, { ...genuine, identityKey: other.identity.publicKey }],
        ['file key', 'alice', alice.master.publicKey, { ...genuine, fileKey: other.file!.publicKey }],
        [
          'no file key',
          'alice',
          alice.master.publicKey,
          bare({ deviceId: genuine.deviceId, signingKey: genuine.signingKey, identityKey: genuine.identityKey, proof: genuine.proof as Uint8Array }),
        ],
        ['signing key', 'alice', alice.master.publicKey, { ...genuine, signingKey: other.signing.publicKey }],
      ];
      for (const [what, user, master, entry] of variants) {
        await expectError(
          () => P.verifyDeviceProof(p, user, master, { ...entry, proof: genuine.proof as Uint8Array }),
          P.SignatureError,
          'ERR_BAD_SIGNATURE',
          what,
        );
      }
      await expectError(() => P.verifyDeviceProof(p, 'alice', alice.master.publicKey, bare(genuine)), P.UnprovenDeviceError, 'ERR_UNPROVEN_DEVICE', 'none');
      // Only the device's own signing seed can make one.
      await expectError(
        () => P.proveDeviceEntry(p, 'alice', alice.master.publicKey, P.deviceEntryOf(keys), other.signing.seed),
        P.InvalidArgumentError,
        'ERR_INVALID_ARGUMENT',
        "another device's seed",
      );
    });

    it('while migrating, present proofs must still verify; missing ones are tolerated', async () => {
      const mixed = await sign(4, [devs[0] as P.DeviceEntry, bare(devs[1] as P.DeviceEntry)]);
      await expectError(() => verify(mixed), P.UnprovenDeviceError, 'ERR_UNPROVEN_DEVICE', 'peer view');
      const own = await P.verifyDeviceList(p, mixed, trusted, { now: NOW, migration: true });
      expect(own.devices.map((d) => d.proof !== undefined)).toEqual([true, false]);
      const forgedProof = { ...bare(devs[1] as P.DeviceEntry), proof: (devs[0] as P.DeviceEntry).proof as Uint8Array };
      const crafted = await signed(
        p,
        alice.master.seed,
        SIGNATURE_LABELS.deviceList,
        listBody('alice', alice.master.publicKey, 4, [devs[0] as P.DeviceEntry, forgedProof]),
      );
      await expectError(
        () => P.verifyDeviceList(p, crafted, trusted, { now: null, migration: true }),
        P.SignatureError,
        'ERR_BAD_SIGNATURE',
        'bad proof, migrating',
      );
    });
  });

  describe('freshness (review finding M2)', () => {
    it(`a list issued more than ${P.DEVICE_LIST_MAX_AGE_MS / DAY} days ago, or from the future beyond the skew, is a StaleDeviceListError`, async () => {
      const list = await sign(5, devs, NOW - P.DEVICE_LIST_MAX_AGE_MS);
      await verify(list); // exactly at the bound
      await expectError(() => verify(list, undefined, NOW + 1), P.StaleDeviceListError, 'ERR_STALE_DEVICE_LIST', 'one ms too old');
      await expectError(async () => verify(await sign(5, devs, NOW - 30 * DAY)), P.StaleDeviceListError, 'ERR_STALE_DEVICE_LIST', '30 days');
      await verify(await sign(5, devs, NOW + P.DEVICE_LIST_MAX_SKEW_MS));
      await expectError(
        async () => verify(await sign(5, devs, NOW + P.DEVICE_LIST_MAX_SKEW_MS + 1)),
        P.StaleDeviceListError,
        'ERR_STALE_DEVICE_LIST',
        'future',
      );
      // A shorter bound on request; no bound only when asked for (relay, own migration).
      await expectError(() => P.verifyDeviceList(p, list, trusted, { now: NOW, maxAgeMs: DAY }), P.StaleDeviceListError, 'ERR_STALE_DEVICE_LIST', 'maxAgeMs');
      await P.verifyDeviceList(p, await sign(5, devs, 0), trusted, { now: null });
      // The check for a list already held.
      const held = await verify(list);
      P.assertDeviceListFresh(held, NOW);
      expect(() => P.assertDeviceListFresh(held, NOW + 1)).toThrow(P.StaleDeviceListError);
    });

    it('formats 1 and 2 (no issue time, no proofs) verify only for a migrating owner', async () => {
      const entries = devs.map(bare);
      const v2 = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceListLegacy, listBody('alice', alice.master.publicKey, 3, entries, { format: 2 }));
      const v1 = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceListLegacy, listBody('alice', alice.master.publicKey, 2, entries, { format: 1 }));
      for (const [what, bytes] of [
        ['format 2', v2],
        ['format 1', v1],
      ] as const) {
        await expectError(() => verify(bytes), P.StaleDeviceListError, 'ERR_STALE_DEVICE_LIST', what);
        const own = await P.verifyDeviceList(p, bytes, trusted, { now: null, migration: true });
        expect(own.issuedAt).toBe(0);
        expect(() => P.assertDeviceListFresh(own, NOW)).toThrow(P.StaleDeviceListError);
      }
      const own2 = await P.verifyDeviceList(p, v2, trusted, { now: null, migration: true });
      expect(own2.format).toBe(2);
      // Legacy lists are signed under the v1 label, never the format-3 one, and the other way round.
      const wrong = await signed(p, alice.master.seed, SIGNATURE_LABELS.deviceList, listBody('alice', alice.master.publicKey, 3, entries, { format: 2 }));
      await expectError(
        () => P.verifyDeviceList(p, wrong, trusted, { now: null, migration: true }),
        P.SignatureError,
        'ERR_BAD_SIGNATURE',
        'format 2, v2 label',
      );
      // Flipping format 3 → 2 on a signed list breaks it.
      const relabelled = (await sign(3, devs)).slice();
      relabelled[0] = 2;
      await expect(P.verifyDeviceList(p, relabelled, trusted, { now: null, migration: true })).rejects.toBeInstanceOf(P.BlindrelayError);
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

    it('format 1 (from before sessions were identity-bound) is refused, even validly signed under its old label', async () => {
      const v1 = P.concat(
        certificateBody('alice', alice.master.publicKey, alice.device, 1),
        await p.ed25519Sign(
          alice.master.seed,
          P.concat(P.utf8('Blindrelay_DeviceCertificate_v1'), Uint8Array.of(0), certificateBody('alice', alice.master.publicKey, alice.device, 1)),
        ),
      );
      await expectError(() => P.decodeDeviceCertificate(v1), P.DecodeError, 'ERR_DECODE', 'v1');
      expect(P.DEVICE_CERTIFICATE_VERSION).toBe(2);
    });

    it('a small-order master or signing key in a certificate is refused when decoding', async () => {
      const userEnd = 2 + 'alice'.length;
      for (const at of [userEnd, userEnd + 32 + 4]) {
        const bad = alice.certificate.slice();
        bad.set(P.fromHex(`01${'00'.repeat(31)}`), at);
        await expectError(() => P.decodeDeviceCertificate(bad), P.DecodeError, 'ERR_DECODE', `identity point at ${at}`);
      }
    });

    it("a session's first message carrying a certificate from another master key is refused", async () => {
      const bob = await makeUser(p, 'bob', 1);
      const a = await P.initiateSession(p, { identity: mallory.device.identity, certificate: mallory.certificate }, bundleOf(bob));
      const m = await P.encryptMessage(p, a, P.utf8('as mallory'));
      const local = { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) };
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
      const prove = (d: P.DeviceKeys) => P.proveDeviceEntry(p, 'bob', bob.master.publicKey, P.deviceEntryOf(d), d.signing.seed);
      const list = await P.verifyDeviceList(
        p,
        await P.signDeviceList(p, 'bob', bob.master, { version: 2, issuedAt: NOW }, [await prove(bob.device), await prove(other)]),
        { user: 'bob', masterKey: bob.master.publicKey },
        { now: NOW },
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
      const spk = await P.generateSignedPreKey(p, 'bob', other, 1);
      const pq = await P.generatePqPreKey(p, 'bob', other, 1, false);
      const otherBundle = P.bundleFor('bob', other, spk, pq);
      await expectError(() => P.verifyPreKeyBundle(p, otherBundle, entry, 'bob'), P.UnknownSignerError, 'ERR_UNKNOWN_SIGNER', 'other device');
      await expectError(() => P.verifyPreKeyBundle(p, genuine, entry, 'mallory'), P.DecodeError, 'ERR_DECODE', 'other user');
    });

    it("prekeys are bound to their user and device: bob's prekeys do not verify as mallory's, nor as another device's (M1)", async () => {
      // A list entry of mallory's naming bob's device keys (as if its proof were not checked) and a
      // bundle relabelled "mallory" carrying bob's genuine signed prekeys.
      const asMallory: P.PreKeyBundle = { ...bundleOf(bob), user: 'mallory' };
      await expectError(() => P.verifyPreKeyBundle(p, asMallory, bare(entry), 'mallory'), P.SignatureError, 'ERR_BAD_SIGNATURE', 'as mallory');
      // The same device keys listed under another device id of bob's.
      const renumbered: P.PreKeyBundle = { ...bundleOf(bob), deviceId: 99 };
      await expectError(() => P.verifyPreKeyBundle(p, renumbered, { ...entry, deviceId: 99 }, 'bob'), P.SignatureError, 'ERR_BAD_SIGNATURE', 'other id');
      // And the relay's upload check sees the same.
      const owner = { user: 'mallory', deviceId: entry.deviceId, signingKey: entry.signingKey };
      await expectError(() => P.verifySignedPreKey(p, owner, bob.spk), P.SignatureError, 'ERR_BAD_SIGNATURE', 'upload spk');
      await expectError(() => P.verifyPqPreKey(p, owner, bob.pq), P.SignatureError, 'ERR_BAD_SIGNATURE', 'upload pq');
      await P.verifySignedPreKey(p, { ...owner, user: 'bob' }, bob.spk);
      await P.verifyPqPreKey(p, { ...owner, user: 'bob' }, bob.pq);
    });

    it('signatures swapped between the signed prekey and the PQ prekey, or made by another key or label: SignatureError', async () => {
      const g = bundleOf(bob);
      const owner = (w: Writer) => w.u8(3).fixed(P.utf8('bob'), 3).u32(g.deviceId);
      const spkBody = owner(new Writer()).u32(g.signedPreKey.id).rest(P.encodeEC(g.signedPreKey.publicKey)).finish();
      const pqBody = owner(new Writer())
        .u8(g.pqPreKey.lastResort ? 1 : 0)
        .u32(g.pqPreKey.id)
        .rest(P.encodeKEM(g.pqPreKey.publicKey))
        .finish();
      const oldSpkBody = new Writer().u32(g.signedPreKey.id).rest(P.encodeEC(g.signedPreKey.publicKey)).finish();
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
        [
          'SPK signed as before prekeys named their owner (v1 label and body)',
          {
            ...g,
            signedPreKey: {
              ...g.signedPreKey,
              signature: await p.ed25519Sign(bob.device.signing.seed, P.concat(P.utf8('Blindrelay_SignedPreKey_v1'), Uint8Array.of(0), oldSpkBody)),
            },
          },
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
    const { entries: pool } = await devices(p, [1, 2, 3, 4], 'alice', alice.master);
    let accepted = 0;
    let rolledBack = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.subarray([0, 1, 2, 3], { minLength: 1 })), { minLength: 1, maxLength: 12 }),
        async (offers) => {
          let held: P.DeviceList | undefined;
          for (const [version, which] of offers) {
            // Issued at a time that grows with the version, as an honest signer's clock would.
            const issuedAt = NOW - 100 + version;
            const bytes = await P.signDeviceList(
              p,
              'alice',
              alice.master,
              { version, issuedAt },
              which.map((i) => pool[i] as P.DeviceEntry),
            );
            const shouldAccept = !held || version > held.version || (version === held.version && P.equal(bytes, held.encoded));
            try {
              held = await P.verifyDeviceList(p, bytes, trusted, { previous: held, now: NOW });
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
