/**
 * Device certificate: the user's master key vouches that a device's signing and identity keys
 * belong to the user. Sent inside the first message of a session (message.ts) so the receiver can
 * authenticate the sender's device against the master key it trusts (safety number).
 *
 * Encoding (docs/PROTOCOL.md §4): version=2 | user | masterKey[32] | deviceId u32 |
 * signingKey[32] | identityKey[32] | signature[64] over everything before it, under the label
 * Blindrelay_DeviceCertificate_v2. Version 1 (the same bytes under the v1 label, from before
 * sessions were bound to user and device ids) is refused: the SDK re-issues its own on open.
 * The device's proof of possession of these keys is in its device-list entry (device-list.ts),
 * which the receiver must check the sender against anyway (docs/DECISIONS.md, 2026-12-03).
 */
import { equal } from './bytes.js';
import { decodeWith, Writer } from './codec.js';
import { assertUserName } from './encoding.js';
import { DecodeError, UnknownSignerError } from './errors.js';
import { readDeviceId, readEd25519, readUser, readX25519, writeUser } from './identity-codec.js';
import type { DeviceKeys, SigningKeyPair } from './keys.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';

/** The certificate format this code issues and accepts. */
export const DEVICE_CERTIFICATE_VERSION = 2;
const VERSION = DEVICE_CERTIFICATE_VERSION;
const WHAT = 'device certificate';

export interface DeviceCertificate {
  readonly user: string;
  readonly masterKey: Uint8Array;
  readonly deviceId: number;
  readonly signingKey: Uint8Array;
  readonly identityKey: Uint8Array;
  readonly signature: Uint8Array;
}

function body(c: Omit<DeviceCertificate, 'signature'>): Uint8Array {
  const w = new Writer(180).u8(VERSION);
  writeUser(w, c.user);
  return w.fixed(c.masterKey, 32).u32(c.deviceId).fixed(c.signingKey, 32).fixed(c.identityKey, 32).finish();
}

/** Only the device's public keys are certified (a primary re-certifies its companions on rotation from their list entries). */
export type CertifiedKeys = Pick<DeviceKeys, 'deviceId'> & {
  readonly signing: { readonly publicKey: Uint8Array };
  readonly identity: { readonly publicKey: Uint8Array };
};

export async function issueDeviceCertificate(p: Primitives, user: string, master: SigningKeyPair, device: CertifiedKeys): Promise<Uint8Array> {
  assertUserName(user);
  const unsigned = {
    user,
    masterKey: master.publicKey,
    deviceId: device.deviceId,
    signingKey: device.signing.publicKey,
    identityKey: device.identity.publicKey,
  };
  const b = body(unsigned);
  const signature = await signWithLabel(p, master.seed, SIGNATURE_LABELS.deviceCertificate, b);
  return new Writer(b.length + 64).rest(b).fixed(signature, 64).finish();
}

export function decodeDeviceCertificate(bytes: Uint8Array): DeviceCertificate {
  return decodeWith(bytes, WHAT, (r) => {
    r.version(VERSION);
    const user = readUser(r, WHAT);
    const masterKey = readEd25519(r, `${WHAT} master key`);
    const deviceId = readDeviceId(r, WHAT);
    const signingKey = readEd25519(r, `${WHAT} signing key`);
    const identityKey = readX25519(r, `${WHAT} identity key`);
    const signature = r.fixed(64).slice();
    return { user, masterKey, deviceId, signingKey, identityKey, signature };
  });
}

export interface TrustedUser {
  readonly user: string;
  /** The master public key the caller trusts for `user` (pinned, verified by safety number). */
  readonly masterKey: Uint8Array;
}

/** Decode and verify a certificate against the master key the caller trusts for the user. */
export async function verifyDeviceCertificate(p: Primitives, bytes: Uint8Array, trusted: TrustedUser): Promise<DeviceCertificate> {
  const cert = decodeDeviceCertificate(bytes);
  if (cert.user !== trusted.user) throw new DecodeError(`${WHAT}: issued for another user`);
  if (!equal(cert.masterKey, trusted.masterKey)) throw new UnknownSignerError(`${WHAT}: signed by an unknown master key`);
  await verifyWithLabel(p, cert.masterKey, SIGNATURE_LABELS.deviceCertificate, body(cert), cert.signature, WHAT);
  return cert;
}
