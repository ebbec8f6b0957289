/**
 * The signed device list (DESIGN.md, "Keys"; Sesame §2 device records): the set of a user's
 * current devices, signed by the user's master key. Its version only grows: a client holding
 * version v rejects any list with a lower version, or with version v and different content.
 *
 * Encoding (docs/PROTOCOL.md §5): format | user | masterKey[32] | listVersion u64 | count u16 |
 * count × entry in strictly ascending deviceId order | signature[64] over everything before it.
 * Format 1 entry: deviceId u32 | signingKey[32] | identityKey[32].
 * Format 2 entry: the same, then hasFileKey u8 (0x00 | 0x01) and, when 0x01, fileKey[32]: the
 * device's X25519 age recipient key for encrypted files (a key of its own, never the identity
 * key: no key reuse across protocols). New lists are always signed in format 2; format 1 lists
 * (from before files existed) still verify, with no file keys.
 */
import { equal } from './bytes.js';
import { decodeWith, Writer } from './codec.js';
import type { TrustedUser } from './device-certificate.js';
import { assertUserName, isValidDeviceId } from './encoding.js';
import { DecodeError, InvalidArgumentError, RollbackError, UnknownSignerError } from './errors.js';
import { readDeviceId, readUser, readX25519, writeUser } from './identity-codec.js';
import type { SigningKeyPair } from './keys.js';
import { MAX_DEVICES } from './limits.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';
import { isValidX25519PublicKey } from './x25519.js';

const FORMAT_V1 = 1;
const FORMAT = 2;
const WHAT = 'device list';

export interface DeviceEntry {
  readonly deviceId: number;
  readonly signingKey: Uint8Array;
  readonly identityKey: Uint8Array;
  /** X25519 age recipient key for files (absent for devices that have not published one). */
  readonly fileKey?: Uint8Array;
}

export interface DeviceList {
  readonly user: string;
  readonly masterKey: Uint8Array;
  readonly version: number;
  /** Encoding format: 1 (no file keys) or 2. */
  readonly format: number;
  readonly devices: readonly DeviceEntry[];
  readonly signature: Uint8Array;
  /** The exact signed bytes this list was decoded from. */
  readonly encoded: Uint8Array;
}

function body(format: number, user: string, masterKey: Uint8Array, version: number, devices: readonly DeviceEntry[]): Uint8Array {
  const w = new Writer(112 + devices.length * 101).u8(format);
  writeUser(w, user);
  w.fixed(masterKey, 32).u64(version).u16(devices.length);
  for (const d of devices) {
    w.u32(d.deviceId).fixed(d.signingKey, 32).fixed(d.identityKey, 32);
    if (format === FORMAT_V1) continue;
    if (d.fileKey) w.u8(1).fixed(d.fileKey, 32);
    else w.u8(0);
  }
  return w.finish();
}

/** Sign a new device list. Devices are sorted by id; duplicates and bad keys are refused. */
export async function signDeviceList(
  p: Primitives,
  user: string,
  master: SigningKeyPair,
  version: number,
  devices: readonly DeviceEntry[],
): Promise<Uint8Array> {
  assertUserName(user);
  if (!Number.isSafeInteger(version) || version < 1) throw new InvalidArgumentError('device list version must be a positive integer');
  if (devices.length > MAX_DEVICES) throw new InvalidArgumentError(`a device list holds at most ${MAX_DEVICES} devices`);
  const sorted = [...devices].sort((a, b) => a.deviceId - b.deviceId);
  for (let i = 0; i < sorted.length; i++) {
    const d = sorted[i] as DeviceEntry;
    if (!isValidDeviceId(d.deviceId)) throw new InvalidArgumentError('invalid device id');
    if (i > 0 && (sorted[i - 1] as DeviceEntry).deviceId === d.deviceId) throw new InvalidArgumentError(`duplicate device id ${d.deviceId}`);
    if (d.signingKey.length !== 32 || !isValidX25519PublicKey(d.identityKey)) throw new InvalidArgumentError('invalid device key');
    if (d.fileKey && !isValidX25519PublicKey(d.fileKey)) throw new InvalidArgumentError('invalid device file key');
    if (d.fileKey && equal(d.fileKey, d.identityKey)) throw new InvalidArgumentError('a device file key must not be its identity key');
  }
  const b = body(FORMAT, user, master.publicKey, version, sorted);
  const signature = await signWithLabel(p, master.seed, SIGNATURE_LABELS.deviceList, b);
  return new Writer(b.length + 64).rest(b).fixed(signature, 64).finish();
}

export function decodeDeviceList(bytes: Uint8Array): DeviceList {
  return decodeWith(bytes, WHAT, (r) => {
    const format = r.u8();
    if (format !== FORMAT_V1 && format !== FORMAT) throw new DecodeError(`${WHAT}: unsupported format ${format}`);
    const user = readUser(r, WHAT);
    const masterKey = r.fixed(32).slice();
    const version = r.u64();
    if (version < 1) throw new DecodeError(`${WHAT}: version must be positive`);
    const count = r.u16();
    if (count > MAX_DEVICES) throw new DecodeError(`${WHAT}: more than ${MAX_DEVICES} devices`);
    const devices: DeviceEntry[] = [];
    for (let i = 0; i < count; i++) {
      const deviceId = readDeviceId(r, WHAT);
      const prev = devices[i - 1];
      if (prev && prev.deviceId === deviceId) throw new DecodeError(`${WHAT}: duplicate device id ${deviceId}`);
      if (prev && prev.deviceId > deviceId) throw new DecodeError(`${WHAT}: devices not in ascending order`);
      const signingKey = r.fixed(32).slice();
      const identityKey = readX25519(r, `${WHAT} identity key`);
      if (format === FORMAT_V1 || !r.flag()) {
        devices.push({ deviceId, signingKey, identityKey });
        continue;
      }
      const fileKey = readX25519(r, `${WHAT} file key`);
      if (equal(fileKey, identityKey)) throw new DecodeError(`${WHAT}: a device's file key equals its identity key`);
      devices.push({ deviceId, signingKey, identityKey, fileKey });
    }
    const signature = r.fixed(64).slice();
    return { user, masterKey, version, format, devices, signature, encoded: bytes.slice() };
  });
}

/**
 * Decode and verify a device list against the master key the caller trusts for the user, and
 * against the newest list it already holds (`previous`), refusing rollback.
 */
export async function verifyDeviceList(p: Primitives, bytes: Uint8Array, trusted: TrustedUser, previous?: DeviceList): Promise<DeviceList> {
  const list = decodeDeviceList(bytes);
  if (list.user !== trusted.user) throw new DecodeError(`${WHAT}: issued for another user`);
  if (!equal(list.masterKey, trusted.masterKey)) throw new UnknownSignerError(`${WHAT}: signed by an unknown master key`);
  await verifyWithLabel(
    p,
    list.masterKey,
    SIGNATURE_LABELS.deviceList,
    body(list.format, list.user, list.masterKey, list.version, list.devices),
    list.signature,
    WHAT,
  );
  if (previous) {
    if (list.version < previous.version) throw new RollbackError(`${WHAT}: version ${list.version} is older than ${previous.version}`);
    if (list.version === previous.version && !equal(list.encoded, previous.encoded)) {
      throw new RollbackError(`${WHAT}: version ${list.version} reused with different content`);
    }
  }
  return list;
}
