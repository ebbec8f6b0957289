/**
 * Master-key rotation statement (docs/PROTOCOL.md §16.4): the user's old master key hands the
 * identity over to a new one, and the new key accepts it. The relay accepts a device list signed
 * by a new master key only together with a statement that verifies under the master key it
 * stores; the user's own devices follow it (they trust the old key) and take their new
 * certificates from it. Other users do NOT follow it: a changed master key is a changed safety
 * number, refused until they verify again (the statement only tells them the change was made by
 * the holder of the old key, not that the new key is still the user's).
 *
 *     body      = 0x01 | user | oldMasterKey[32] | newMasterKey[32] | issuedAt u64
 *                 | u16 n | n × (u16 length | device certificate under the new key)
 *     statement = body | sigOld[64] | sigNew[64]
 *     sigOld    = Ed25519(old master key, "Blindrelay_MasterKeyRotation_v1" ‖ 0x00 ‖ body)
 *     sigNew    = Ed25519(new master key, "Blindrelay_MasterKeyRotation_v1" ‖ 0x00 ‖ body)
 *
 * Both signatures: the old one authorises, the new one proves the new key's holder made the
 * statement (nobody can rotate a user onto a key they do not hold, or claim another's key).
 * The certificates (device-certificate.ts, version 2) are for the devices the new list keeps, in
 * ascending device-id order, each verified under the new key.
 */
import { equal } from './bytes.js';
import { decodeWith, Writer } from './codec.js';
import { type DeviceCertificate, decodeDeviceCertificate, verifyDeviceCertificate } from './device-certificate.js';
import { assertUserName } from './encoding.js';
import { DecodeError, InvalidArgumentError, UnknownSignerError } from './errors.js';
import { readEd25519, readUser, writeUser } from './identity-codec.js';
import type { SigningKeyPair } from './keys.js';
import { MAX_DEVICES } from './limits.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';

const VERSION = 1;
const WHAT = 'master-key rotation';
const MAX_CERTIFICATE_BYTES = 512;

export interface MasterKeyRotation {
  readonly user: string;
  readonly oldMasterKey: Uint8Array;
  readonly newMasterKey: Uint8Array;
  /** The signer's clock, ms since the epoch. */
  readonly issuedAt: number;
  /** The kept devices' certificates under the new key, and their exact bytes (same order). */
  readonly certificates: readonly DeviceCertificate[];
  readonly certificateBytes: readonly Uint8Array[];
  /** The exact bytes. */
  readonly encoded: Uint8Array;
}

function body(user: string, oldKey: Uint8Array, newKey: Uint8Array, issuedAt: number, certificates: readonly Uint8Array[]): Uint8Array {
  const w = new Writer(128 + certificates.length * 240).u8(VERSION);
  writeUser(w, user);
  w.fixed(oldKey, 32).fixed(newKey, 32).u64(issuedAt).u16(certificates.length);
  for (const c of certificates) w.bytes16(c);
  return w.finish();
}

/**
 * Sign a rotation of `user` from `oldMaster` to `newMaster` carrying `certificates` (issued under
 * the new key, one per kept device). InvalidArgumentError for the same key twice, a certificate not
 * under the new key or for another user, or duplicate devices.
 */
export async function signMasterKeyRotation(
  p: Primitives,
  user: string,
  oldMaster: SigningKeyPair,
  newMaster: SigningKeyPair,
  issuedAt: number,
  certificates: readonly Uint8Array[],
): Promise<Uint8Array> {
  assertUserName(user);
  if (equal(oldMaster.publicKey, newMaster.publicKey)) throw new InvalidArgumentError('a rotation needs a new master key');
  if (!Number.isSafeInteger(issuedAt) || issuedAt < 0) throw new InvalidArgumentError('issuedAt must be ms since the epoch');
  if (certificates.length > MAX_DEVICES) throw new InvalidArgumentError(`at most ${MAX_DEVICES} certificates`);
  const decoded = certificates.map((c) => decodeDeviceCertificate(c));
  const sorted = [...certificates].sort((a, b) => decodeDeviceCertificate(a).deviceId - decodeDeviceCertificate(b).deviceId);
  for (let i = 0; i < decoded.length; i++) {
    const c = decoded[i] as DeviceCertificate;
    if (c.user !== user || !equal(c.masterKey, newMaster.publicKey)) throw new InvalidArgumentError('a certificate not issued under the new key for this user');
    if (decoded.some((o, j) => j !== i && o.deviceId === c.deviceId)) throw new InvalidArgumentError(`two certificates for device ${c.deviceId}`);
  }
  const b = body(user, oldMaster.publicKey, newMaster.publicKey, issuedAt, sorted);
  const sigOld = await signWithLabel(p, oldMaster.seed, SIGNATURE_LABELS.masterKeyRotation, b);
  const sigNew = await signWithLabel(p, newMaster.seed, SIGNATURE_LABELS.masterKeyRotation, b);
  return new Writer(b.length + 128).rest(b).fixed(sigOld, 64).fixed(sigNew, 64).finish();
}

interface Decoded {
  readonly user: string;
  readonly oldMasterKey: Uint8Array;
  readonly newMasterKey: Uint8Array;
  readonly issuedAt: number;
  readonly certificates: readonly Uint8Array[];
  readonly sigOld: Uint8Array;
  readonly sigNew: Uint8Array;
}

function decode(bytes: Uint8Array): Decoded {
  return decodeWith(bytes, WHAT, (r) => {
    r.version(VERSION);
    const user = readUser(r, WHAT);
    const oldMasterKey = readEd25519(r, `${WHAT} old key`);
    const newMasterKey = readEd25519(r, `${WHAT} new key`);
    const issuedAt = r.u64();
    const n = r.u16();
    if (n > MAX_DEVICES) throw new DecodeError(`${WHAT}: more than ${MAX_DEVICES} certificates`);
    const certificates: Uint8Array[] = [];
    for (let i = 0; i < n; i++) certificates.push(r.bytes16(MAX_CERTIFICATE_BYTES).slice());
    return { user, oldMasterKey, newMasterKey, issuedAt, certificates, sigOld: r.fixed(64).slice(), sigNew: r.fixed(64).slice() };
  });
}

/**
 * Verify a statement against the master key the caller trusts for `trusted.user` (the OLD key):
 * both signatures, and every certificate under the new key, in ascending device order. Throws
 * DecodeError (malformed, another user), UnknownSignerError (not from the trusted key),
 * SignatureError (a bad signature or certificate).
 */
export async function verifyMasterKeyRotation(p: Primitives, bytes: Uint8Array, trusted: { user: string; masterKey: Uint8Array }): Promise<MasterKeyRotation> {
  const d = decode(bytes);
  if (d.user !== trusted.user) throw new DecodeError(`${WHAT}: issued for another user`);
  if (!equal(d.oldMasterKey, trusted.masterKey)) throw new UnknownSignerError(`${WHAT}: not from the trusted master key`);
  if (equal(d.oldMasterKey, d.newMasterKey)) throw new DecodeError(`${WHAT}: the same key twice`);
  const b = body(d.user, d.oldMasterKey, d.newMasterKey, d.issuedAt, d.certificates);
  await verifyWithLabel(p, d.oldMasterKey, SIGNATURE_LABELS.masterKeyRotation, b, d.sigOld, `${WHAT} (old key)`);
  await verifyWithLabel(p, d.newMasterKey, SIGNATURE_LABELS.masterKeyRotation, b, d.sigNew, `${WHAT} (new key)`);
  const certificates: DeviceCertificate[] = [];
  for (const c of d.certificates) {
    const cert = await verifyDeviceCertificate(p, c, { user: d.user, masterKey: d.newMasterKey });
    const prev = certificates[certificates.length - 1];
    if (prev && prev.deviceId >= cert.deviceId) throw new DecodeError(`${WHAT}: certificates not in ascending device order`);
    certificates.push(cert);
  }
  return {
    user: d.user,
    oldMasterKey: d.oldMasterKey,
    newMasterKey: d.newMasterKey,
    issuedAt: d.issuedAt,
    certificates,
    certificateBytes: d.certificates,
    encoded: bytes.slice(),
  };
}

/** The new key a statement names, without verifying anything (the relay's first look; then verify). */
export function rotationNewKey(bytes: Uint8Array): Uint8Array {
  return decode(bytes).newMasterKey;
}
