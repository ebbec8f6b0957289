/**
 * Prekeys (PQXDH rev. 2 §2.3–§3.2) and the prekey bundle a device publishes:
 * - a signed X25519 prekey SPK, rotated by the device;
 * - one-time X25519 prekeys OPK (unsigned, as in the spec: a substituted OPK only makes the
 *   session fail, it cannot weaken it);
 * - signed ML-KEM-768 prekeys PQPK, one-time or last-resort.
 * Signatures are made with the device's Ed25519 signing key over the owning user and device id,
 * the prekey id and the type-tagged key encoding (EncodeEC / EncodeKEM), labels *_v2: a prekey
 * published by one device verifies only in a bundle of that very user and device, so a relay
 * cannot present Alice's prekeys as another user's (review finding M1; PQXDH rev. 2 §4.10).
 *
 * Bundle encoding (docs/PROTOCOL.md §6): version=2 | user | deviceId u32 | signingKey[32] |
 * identityKey[32] | spkId u32 | spk[32] | spkSignature[64] | hasOneTime u8 |
 * (opkId u32 | opk[32])? | pqId u32 | pqLastResort u8 | pqpk[1184] | pqSignature[64].
 */
import { equal } from './bytes.js';
import { decodeWith, Writer } from './codec.js';
import type { DeviceEntry } from './device-list.js';
import { assertUserName, encodeEC, encodeKEM } from './encoding.js';
import { DecodeError, UnknownSignerError } from './errors.js';
import { readDeviceId, readEd25519, readUser, readX25519, writeUser } from './identity-codec.js';
import type { DeviceKeys } from './keys.js';
import type { KeyPair, Primitives } from './primitives/types.js';
import { MLKEM768_PUBLIC_KEY_BYTES } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';
import { generateX25519 } from './x25519.js';

export interface SignedPreKeyPublic {
  readonly id: number;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}
export interface OneTimePreKeyPublic {
  readonly id: number;
  readonly publicKey: Uint8Array;
}
export interface PqPreKeyPublic {
  readonly id: number;
  readonly lastResort: boolean;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
}

/** Private records, kept by the device that published the prekeys. */
export interface SignedPreKeyRecord extends SignedPreKeyPublic {
  readonly privateKey: Uint8Array;
}
export interface OneTimePreKeyRecord extends OneTimePreKeyPublic {
  readonly privateKey: Uint8Array;
}
export interface PqPreKeyRecord extends PqPreKeyPublic {
  readonly privateKey: Uint8Array;
}

export interface PreKeyBundle {
  readonly user: string;
  readonly deviceId: number;
  readonly signingKey: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly signedPreKey: SignedPreKeyPublic;
  readonly oneTimePreKey?: OneTimePreKeyPublic;
  readonly pqPreKey: PqPreKeyPublic;
}

/** The device a prekey belongs to: its user and id (bound into the signature) and its signing key. */
export interface PreKeyOwner {
  readonly user: string;
  readonly deviceId: number;
  readonly signingKey: Uint8Array;
}

const BUNDLE_VERSION = 2;

/** user | deviceId u32: the owner prefix of both prekey signature bodies. */
function ownerPrefix(w: Writer, user: string, deviceId: number): Writer {
  writeUser(w, user);
  return w.u32(deviceId);
}
/** Bytes of the owner prefix: u8 length, the user name (ASCII, PROTOCOL.md §2), u32 device id. */
const ownerBytes = (user: string) => 1 + user.length + 4;
/** Signed prekey body: user | deviceId u32 | id u32 | EncodeEC(SPK). */
const spkBody = (user: string, deviceId: number, id: number, pub: Uint8Array) =>
  ownerPrefix(new Writer(ownerBytes(user) + 4 + 1 + pub.length), user, deviceId)
    .u32(id)
    .rest(encodeEC(pub))
    .finish();
/** PQ prekey body: user | deviceId u32 | lastResort u8 | id u32 | EncodeKEM(PQPK). */
const pqBody = (user: string, deviceId: number, id: number, lastResort: boolean, pub: Uint8Array) =>
  ownerPrefix(new Writer(ownerBytes(user) + 1 + 4 + 1 + pub.length), user, deviceId)
    .u8(lastResort ? 1 : 0)
    .u32(id)
    .rest(encodeKEM(pub))
    .finish();

export async function generateSignedPreKey(p: Primitives, user: string, device: DeviceKeys, id: number): Promise<SignedPreKeyRecord> {
  assertUserName(user);
  const kp: KeyPair = await generateX25519(p);
  const signature = await signWithLabel(p, device.signing.seed, SIGNATURE_LABELS.signedPreKey, spkBody(user, device.deviceId, id, kp.publicKey));
  return { id, publicKey: kp.publicKey, privateKey: kp.privateKey, signature };
}

export async function generateOneTimePreKeys(p: Primitives, firstId: number, count: number): Promise<OneTimePreKeyRecord[]> {
  const out: OneTimePreKeyRecord[] = [];
  for (let i = 0; i < count; i++) {
    const kp = await generateX25519(p);
    out.push({ id: (firstId + i) >>> 0, publicKey: kp.publicKey, privateKey: kp.privateKey });
  }
  return out;
}

export async function generatePqPreKey(p: Primitives, user: string, device: DeviceKeys, id: number, lastResort: boolean): Promise<PqPreKeyRecord> {
  assertUserName(user);
  const kp = p.mlkem768KeyPair(p.randomBytes(64));
  const signature = await signWithLabel(p, device.signing.seed, SIGNATURE_LABELS.pqPreKey, pqBody(user, device.deviceId, id, lastResort, kp.publicKey));
  return { id, lastResort, publicKey: kp.publicKey, privateKey: kp.privateKey, signature };
}

export function encodePreKeyBundle(b: PreKeyBundle): Uint8Array {
  assertUserName(b.user);
  const w = new Writer(1500).u8(BUNDLE_VERSION);
  writeUser(w, b.user);
  w.u32(b.deviceId).fixed(b.signingKey, 32).fixed(b.identityKey, 32);
  w.u32(b.signedPreKey.id).fixed(b.signedPreKey.publicKey, 32).fixed(b.signedPreKey.signature, 64);
  if (b.oneTimePreKey) w.u8(1).u32(b.oneTimePreKey.id).fixed(b.oneTimePreKey.publicKey, 32);
  else w.u8(0);
  w.u32(b.pqPreKey.id).u8(b.pqPreKey.lastResort ? 1 : 0);
  w.fixed(b.pqPreKey.publicKey, MLKEM768_PUBLIC_KEY_BYTES).fixed(b.pqPreKey.signature, 64);
  return w.finish();
}

const WHAT = 'prekey bundle';

export function decodePreKeyBundle(bytes: Uint8Array): PreKeyBundle {
  return decodeWith(bytes, WHAT, (r) => {
    r.version(BUNDLE_VERSION);
    const user = readUser(r, WHAT);
    const deviceId = readDeviceId(r, WHAT);
    const signingKey = readEd25519(r, `${WHAT} signing key`);
    const identityKey = readX25519(r, `${WHAT} identity key`);
    const signedPreKey = { id: r.u32(), publicKey: readX25519(r, `${WHAT} signed prekey`), signature: r.fixed(64).slice() };
    const oneTimePreKey = r.flag() ? { id: r.u32(), publicKey: readX25519(r, `${WHAT} one-time prekey`) } : undefined;
    const pqId = r.u32();
    const lastResort = r.flag();
    const pqPreKey = { id: pqId, lastResort, publicKey: r.fixed(MLKEM768_PUBLIC_KEY_BYTES).slice(), signature: r.fixed(64).slice() };
    return oneTimePreKey
      ? { user, deviceId, signingKey, identityKey, signedPreKey, oneTimePreKey, pqPreKey }
      : { user, deviceId, signingKey, identityKey, signedPreKey, pqPreKey };
  });
}

/**
 * Check a bundle before use (PQXDH rev. 2 §3.3: "Alice verifies the prekey signatures and aborts
 * the protocol if verification fails"): the device must be the one in the user's verified device
 * list, and both prekey signatures must verify under that device's signing key.
 */
export async function verifyPreKeyBundle(p: Primitives, bundle: PreKeyBundle, device: DeviceEntry, user: string): Promise<void> {
  if (bundle.user !== user) throw new DecodeError(`${WHAT}: for another user`);
  if (bundle.deviceId !== device.deviceId || !equal(bundle.signingKey, device.signingKey) || !equal(bundle.identityKey, device.identityKey)) {
    throw new UnknownSignerError(`${WHAT}: device keys do not match the signed device list`);
  }
  const spk = bundle.signedPreKey;
  const spkSigned = spkBody(user, device.deviceId, spk.id, spk.publicKey);
  await verifyWithLabel(p, device.signingKey, SIGNATURE_LABELS.signedPreKey, spkSigned, spk.signature, `${WHAT} signed prekey`);
  const pq = bundle.pqPreKey;
  const pqSigned = pqBody(user, device.deviceId, pq.id, pq.lastResort, pq.publicKey);
  await verifyWithLabel(p, device.signingKey, SIGNATURE_LABELS.pqPreKey, pqSigned, pq.signature, `${WHAT} PQ prekey`);
}

/** Verify one signed X25519 prekey of `owner` (the server checks uploads too). */
export async function verifySignedPreKey(p: Primitives, owner: PreKeyOwner, spk: SignedPreKeyPublic): Promise<void> {
  if (spk.publicKey.length !== 32) throw new DecodeError('signed prekey: wrong length');
  await verifyWithLabel(
    p,
    owner.signingKey,
    SIGNATURE_LABELS.signedPreKey,
    spkBody(owner.user, owner.deviceId, spk.id, spk.publicKey),
    spk.signature,
    'signed prekey',
  );
}

/** Verify one signed ML-KEM-768 prekey of `owner`. */
export async function verifyPqPreKey(p: Primitives, owner: PreKeyOwner, pq: PqPreKeyPublic): Promise<void> {
  if (pq.publicKey.length !== MLKEM768_PUBLIC_KEY_BYTES) throw new DecodeError('PQ prekey: wrong length');
  const signed = pqBody(owner.user, owner.deviceId, pq.id, pq.lastResort, pq.publicKey);
  await verifyWithLabel(p, owner.signingKey, SIGNATURE_LABELS.pqPreKey, signed, pq.signature, 'PQ prekey');
}

/** The public bundle for one device, as a server would assemble it from published prekeys. */
export function bundleFor(user: string, device: DeviceKeys, spk: SignedPreKeyPublic, pq: PqPreKeyPublic, opk?: OneTimePreKeyPublic): PreKeyBundle {
  const base = {
    user,
    deviceId: device.deviceId,
    signingKey: device.signing.publicKey,
    identityKey: device.identity.publicKey,
    signedPreKey: { id: spk.id, publicKey: spk.publicKey, signature: spk.signature },
    pqPreKey: { id: pq.id, lastResort: pq.lastResort, publicKey: pq.publicKey, signature: pq.signature },
  };
  return opk ? { ...base, oneTimePreKey: { id: opk.id, publicKey: opk.publicKey } } : base;
}
