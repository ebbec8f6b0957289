/**
 * The signed device list (DESIGN.md, "Keys"; Sesame §2 device records): the set of a user's
 * current devices, signed by the user's master key. Its version only grows: a client holding
 * version v rejects any list with a lower version, or with version v and different content.
 *
 * Encoding (docs/PROTOCOL.md §5), format 3: 0x03 | user | masterKey[32] | version u64 |
 * issuedAt u64 | count u16 | count × entry in strictly ascending deviceId order | signature[64]
 * over everything before it (label Blindrelay_DeviceList_v2). Entry: deviceId u32 |
 * signingKey[32] | identityKey[32] | hasFileKey u8 | fileKey[32]? | hasProof u8 | proof[64]?.
 * - `fileKey`: the device's X25519 age recipient key for encrypted files (a key of its own, never
 *   the identity key: no key reuse across protocols).
 * - `proof`: the device's proof of possession, an Ed25519 signature by the entry's own signing
 *   key over (user, deviceId, masterKey, signingKey, identityKey, fileKey) under the label
 *   Blindrelay_DeviceProof_v1: a master key can only list keys whose holder agreed to be that
 *   user's device (review finding M1: otherwise a user could list another user's device keys).
 *   A list used to reach a user must prove every entry; an entry without a proof only exists while
 *   a user's devices migrate from formats 1–2 (each device adds its own, §5.3).
 * - `issuedAt`: ms since the epoch when the list was signed; a list older than
 *   DEVICE_LIST_MAX_AGE_MS is refused (review finding M2: no old list on first contact, no list
 *   frozen for longer than the bound).
 * Formats 1 (no file keys, no proofs) and 2 (file keys) have no issue time; they decode and verify
 * only for the owner's own migration (`migration: true`).
 */
import { equal } from './bytes.js';
import { decodeWith, Writer } from './codec.js';
import type { TrustedUser } from './device-certificate.js';
import { isValidEd25519PublicKey } from './ed25519.js';
import { assertUserName, isValidDeviceId } from './encoding.js';
import { DecodeError, InvalidArgumentError, RollbackError, StaleDeviceListError, UnknownSignerError, UnprovenDeviceError } from './errors.js';
import { readDeviceId, readEd25519, readUser, readX25519, writeUser } from './identity-codec.js';
import type { DeviceKeys, SigningKeyPair } from './keys.js';
import { DEVICE_LIST_MAX_AGE_MS, DEVICE_LIST_MAX_SKEW_MS, MAX_DEVICES } from './limits.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';
import { isValidX25519PublicKey } from './x25519.js';

const FORMAT_V1 = 1;
const FORMAT_V2 = 2;
/** The format this code signs; the only one accepted for another user's list. */
export const DEVICE_LIST_FORMAT = 3;
const WHAT = 'device list';

export interface DeviceEntry {
  readonly deviceId: number;
  readonly signingKey: Uint8Array;
  readonly identityKey: Uint8Array;
  /** X25519 age recipient key for files (absent for devices that have not published one). */
  readonly fileKey?: Uint8Array;
  /** The device's proof of possession (format 3); absent while the device has not given one. */
  readonly proof?: Uint8Array;
}

export interface DeviceList {
  readonly user: string;
  readonly masterKey: Uint8Array;
  readonly version: number;
  /** Encoding format: 3, or 1 / 2 (legacy, own migration only). */
  readonly format: number;
  /** When the list was signed (ms since the epoch); 0 for formats 1 and 2, which have no issue time. */
  readonly issuedAt: number;
  readonly devices: readonly DeviceEntry[];
  readonly signature: Uint8Array;
  /** The exact signed bytes this list was decoded from. */
  readonly encoded: Uint8Array;
}

function writeFileKey(w: Writer, fileKey: Uint8Array | undefined): void {
  if (fileKey) w.u8(1).fixed(fileKey, 32);
  else w.u8(0);
}

function body(format: number, user: string, masterKey: Uint8Array, version: number, issuedAt: number, devices: readonly DeviceEntry[]): Uint8Array {
  const w = new Writer(120 + devices.length * 166).u8(format);
  writeUser(w, user);
  w.fixed(masterKey, 32).u64(version);
  if (format === DEVICE_LIST_FORMAT) w.u64(issuedAt);
  w.u16(devices.length);
  for (const d of devices) {
    w.u32(d.deviceId).fixed(d.signingKey, 32).fixed(d.identityKey, 32);
    if (format === FORMAT_V1) continue;
    writeFileKey(w, d.fileKey);
    if (format === FORMAT_V2) continue;
    if (d.proof) w.u8(1).fixed(d.proof, 64);
    else w.u8(0);
  }
  return w.finish();
}

/** What a device's proof of possession signs: user | deviceId u32 | masterKey | signingKey | identityKey | hasFileKey u8 | fileKey?. */
function proofBody(user: string, masterKey: Uint8Array, entry: DeviceEntry): Uint8Array {
  const w = new Writer(180);
  writeUser(w, user);
  w.u32(entry.deviceId).fixed(masterKey, 32).fixed(entry.signingKey, 32).fixed(entry.identityKey, 32);
  writeFileKey(w, entry.fileKey);
  return w.finish();
}

/** A device's own list entry (no proof yet): its keys, and its file key when it has one. */
export function deviceEntryOf(device: DeviceKeys): DeviceEntry {
  const base = { deviceId: device.deviceId, signingKey: device.signing.publicKey, identityKey: device.identity.publicKey };
  return device.file ? { ...base, fileKey: device.file.publicKey } : base;
}

/**
 * The device's proof of possession for `entry` as a device of `user` under `masterKey`, made with
 * its own signing seed (which must be the entry's signing key). Returns the entry with the proof.
 */
export async function proveDeviceEntry(p: Primitives, user: string, masterKey: Uint8Array, entry: DeviceEntry, signingSeed: Uint8Array): Promise<DeviceEntry> {
  assertUserName(user);
  if (!equal(await p.ed25519PublicKey(signingSeed), entry.signingKey)) throw new InvalidArgumentError('a proof must be made with the entry’s own signing key');
  const { proof: _old, ...bare } = entry;
  const proof = await signWithLabel(p, signingSeed, SIGNATURE_LABELS.deviceProof, proofBody(user, masterKey, bare));
  return { ...bare, proof };
}

/** Verify an entry's proof of possession: UnprovenDeviceError without one, SignatureError for a bad one. */
export async function verifyDeviceProof(p: Primitives, user: string, masterKey: Uint8Array, entry: DeviceEntry): Promise<void> {
  if (!entry.proof) throw new UnprovenDeviceError(`${WHAT}: device ${entry.deviceId} has not proved possession of its keys`);
  await verifyWithLabel(
    p,
    entry.signingKey,
    SIGNATURE_LABELS.deviceProof,
    proofBody(user, masterKey, entry),
    entry.proof,
    `${WHAT} device ${entry.deviceId} proof`,
  );
}

export interface DeviceListVersion {
  /** The list version, above every version signed before. */
  readonly version: number;
  /** The signer's clock, ms since the epoch. */
  readonly issuedAt: number;
}

/**
 * Sign a new device list (format 3). Devices are sorted by id; duplicates, bad keys and proofs
 * that do not verify are refused (InvalidArgumentError): a list is never signed with a proof its
 * signer did not check. Entries without a proof are allowed only to migrate (§5.3).
 */
export async function signDeviceList(
  p: Primitives,
  user: string,
  master: SigningKeyPair,
  at: DeviceListVersion,
  devices: readonly DeviceEntry[],
): Promise<Uint8Array> {
  assertUserName(user);
  const { version, issuedAt } = at;
  if (!Number.isSafeInteger(version) || version < 1) throw new InvalidArgumentError('device list version must be a positive integer');
  if (!Number.isSafeInteger(issuedAt) || issuedAt < 0) throw new InvalidArgumentError('device list issuedAt must be ms since the epoch');
  if (devices.length > MAX_DEVICES) throw new InvalidArgumentError(`a device list holds at most ${MAX_DEVICES} devices`);
  const sorted = [...devices].sort((a, b) => a.deviceId - b.deviceId);
  for (let i = 0; i < sorted.length; i++) {
    const d = sorted[i] as DeviceEntry;
    if (!isValidDeviceId(d.deviceId)) throw new InvalidArgumentError('invalid device id');
    if (i > 0 && (sorted[i - 1] as DeviceEntry).deviceId === d.deviceId) throw new InvalidArgumentError(`duplicate device id ${d.deviceId}`);
    if (!isValidEd25519PublicKey(d.signingKey) || !isValidX25519PublicKey(d.identityKey)) throw new InvalidArgumentError('invalid device key');
    if (d.fileKey && !isValidX25519PublicKey(d.fileKey)) throw new InvalidArgumentError('invalid device file key');
    if (d.fileKey && equal(d.fileKey, d.identityKey)) throw new InvalidArgumentError('a device file key must not be its identity key');
    if (d.proof && (d.proof.length !== 64 || !(await proofHolds(p, user, master.publicKey, d)))) {
      throw new InvalidArgumentError(`the proof of device ${d.deviceId} does not verify`);
    }
  }
  const b = body(DEVICE_LIST_FORMAT, user, master.publicKey, version, issuedAt, sorted);
  const signature = await signWithLabel(p, master.seed, SIGNATURE_LABELS.deviceList, b);
  return new Writer(b.length + 64).rest(b).fixed(signature, 64).finish();
}

async function proofHolds(p: Primitives, user: string, masterKey: Uint8Array, entry: DeviceEntry): Promise<boolean> {
  try {
    await verifyDeviceProof(p, user, masterKey, entry);
    return true;
  } catch {
    return false;
  }
}

export function decodeDeviceList(bytes: Uint8Array): DeviceList {
  return decodeWith(bytes, WHAT, (r) => {
    const format = r.u8();
    if (format !== FORMAT_V1 && format !== FORMAT_V2 && format !== DEVICE_LIST_FORMAT) throw new DecodeError(`${WHAT}: unsupported format ${format}`);
    const user = readUser(r, WHAT);
    const masterKey = readEd25519(r, `${WHAT} master key`);
    const version = r.u64();
    if (version < 1) throw new DecodeError(`${WHAT}: version must be positive`);
    const issuedAt = format === DEVICE_LIST_FORMAT ? r.u64() : 0;
    const count = r.u16();
    if (count > MAX_DEVICES) throw new DecodeError(`${WHAT}: more than ${MAX_DEVICES} devices`);
    const devices: DeviceEntry[] = [];
    for (let i = 0; i < count; i++) {
      const deviceId = readDeviceId(r, WHAT);
      const prev = devices[i - 1];
      if (prev && prev.deviceId === deviceId) throw new DecodeError(`${WHAT}: duplicate device id ${deviceId}`);
      if (prev && prev.deviceId > deviceId) throw new DecodeError(`${WHAT}: devices not in ascending order`);
      const signingKey = readEd25519(r, `${WHAT} signing key`);
      const identityKey = readX25519(r, `${WHAT} identity key`);
      let entry: DeviceEntry = { deviceId, signingKey, identityKey };
      if (format !== FORMAT_V1 && r.flag()) {
        const fileKey = readX25519(r, `${WHAT} file key`);
        if (equal(fileKey, identityKey)) throw new DecodeError(`${WHAT}: a device's file key equals its identity key`);
        entry = { ...entry, fileKey };
      }
      if (format === DEVICE_LIST_FORMAT && r.flag()) entry = { ...entry, proof: r.fixed(64).slice() };
      devices.push(entry);
    }
    const signature = r.fixed(64).slice();
    return { user, masterKey, version, format, issuedAt, devices, signature, encoded: bytes.slice() };
  });
}

export interface DeviceListCheck {
  /** The newest list the caller holds for the user: an older version, or the same one changed, is a rollback. */
  readonly previous?: DeviceList | undefined;
  /**
   * The caller's clock (ms since the epoch) for the freshness bound (§5.1): the list must have
   * been issued at most `maxAgeMs` before it and at most DEVICE_LIST_MAX_SKEW_MS after it. `null`
   * skips the bound: only for a relay (which applies its own issue-time rules) or the owner's own
   * migration, never to decide whom to encrypt to.
   */
  readonly now: number | null;
  /** The freshness bound; default DEVICE_LIST_MAX_AGE_MS. */
  readonly maxAgeMs?: number;
  /**
   * Also accept formats 1 and 2 and entries without a proof, for a user's own devices migrating
   * their list (§5.3) and for the relay. Never to reach another user.
   */
  readonly migration?: boolean;
}

/**
 * Decode and verify a device list against the master key the caller trusts for the user, the
 * proofs of possession of its devices, its issue time and the newest list the caller holds.
 */
export async function verifyDeviceList(p: Primitives, bytes: Uint8Array, trusted: TrustedUser, check: DeviceListCheck): Promise<DeviceList> {
  const list = decodeDeviceList(bytes);
  if (list.user !== trusted.user) throw new DecodeError(`${WHAT}: issued for another user`);
  if (!equal(list.masterKey, trusted.masterKey)) throw new UnknownSignerError(`${WHAT}: signed by an unknown master key`);
  const label = list.format === DEVICE_LIST_FORMAT ? SIGNATURE_LABELS.deviceList : SIGNATURE_LABELS.deviceListLegacy;
  await verifyWithLabel(
    p,
    list.masterKey,
    label,
    body(list.format, list.user, list.masterKey, list.version, list.issuedAt, list.devices),
    list.signature,
    WHAT,
  );
  if (list.format !== DEVICE_LIST_FORMAT && !check.migration) {
    throw new StaleDeviceListError(`${WHAT}: format ${list.format} has no issue time or proofs of possession; the user's devices must update it`);
  }
  // Every proof present must verify; a missing one is tolerated only while migrating.
  for (const d of list.devices) if (d.proof || !check.migration) await verifyDeviceProof(p, list.user, list.masterKey, d);
  if (check.now !== null) assertDeviceListFresh(list, check.now, check.maxAgeMs);
  const previous = check.previous;
  if (previous) {
    if (list.version < previous.version) throw new RollbackError(`${WHAT}: version ${list.version} is older than ${previous.version}`);
    if (list.version === previous.version && !equal(list.encoded, previous.encoded)) {
      throw new RollbackError(`${WHAT}: version ${list.version} reused with different content`);
    }
    if (list.format < previous.format || list.issuedAt < previous.issuedAt)
      throw new RollbackError(`${WHAT}: version ${list.version} goes back in format or issue time`);
  }
  return list;
}

/**
 * §5.1 freshness: StaleDeviceListError unless `list` was issued at most `maxAgeMs` before `now`
 * and at most DEVICE_LIST_MAX_SKEW_MS after it (formats 1 and 2, with no issue time, never are).
 * For a list the caller verified earlier and still holds.
 */
export function assertDeviceListFresh(list: DeviceList, now: number, maxAgeMs: number = DEVICE_LIST_MAX_AGE_MS): void {
  if (list.format !== DEVICE_LIST_FORMAT) throw new StaleDeviceListError(`${WHAT}: format ${list.format} has no issue time; the user's devices must update it`);
  if (list.issuedAt < now - maxAgeMs) {
    const days = Math.floor((now - list.issuedAt) / 86_400_000);
    throw new StaleDeviceListError(`${WHAT} of ${list.user}: issued ${days} days ago, longer than the ${maxAgeMs / 86_400_000} days accepted`);
  }
  if (list.issuedAt > now + DEVICE_LIST_MAX_SKEW_MS)
    throw new StaleDeviceListError(`${WHAT} of ${list.user}: issued in the future (check this device's clock)`);
}

/** True when every device of the list proved possession of its keys (a format-3 list usable to reach the user). */
export function isFullyProven(list: DeviceList): boolean {
  return list.format === DEVICE_LIST_FORMAT && list.devices.every((d) => d.proof !== undefined);
}
