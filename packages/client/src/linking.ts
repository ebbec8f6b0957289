/**
 * Devices of our own user (docs/API.md §3, §7): linking a new device, approving it from the
 * primary, listing and revoking devices. Every change is a new device list signed with the
 * master seed (version + 1), which only the primary device holds (custody.ts, PROTOCOL.md §16).
 *
 * Link code: `BR1.<channelId>.<ephemeral X25519 public key>` (both base64url). The new device
 * shows it; the primary generates the new companion's device keys, certifies them, signs the
 * device list that adds it (with the companion's proof of possession) and seals those, the
 * master PUBLIC key and account state (contacts with their pins and verified flags) to that key
 * (sealProvisioning, PROTOCOL.md §12; LinkState format 2 below) and hands the envelope to the
 * relay, which only sees ciphertext. The companion publishes that list with its prekeys.
 */
import { type DeviceEntry, type DeviceList, fromUtf8, isValidUserName, isValidX25519PublicKey, utf8 } from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from './base64url.js';
import { InvalidLinkCodeError, ProfileCorruptError, ProvisioningFormatError } from './errors.js';
import type { CollectionEntry, Contact } from './profile.js';

export const LINK_CODE_PREFIX = 'BR1';

/**
 * What a link code says about the request (review ux-2026-12 F5): the user the new device asks to
 * join and its name, so the approving device can show them and refuse a request for another user.
 * Not covered by the comparison code: they guard against mistakes (approving on the wrong
 * account, a code for someone else), not against a forger, who can make a code of their own.
 */
export interface LinkRequest {
  readonly user: string;
  readonly deviceName: string;
}
/** Longest device name carried in a link code (characters). */
export const MAX_LINK_DEVICE_NAME = 64;

/**
 * `BR1.<channelId>.<key>` (from a version before 2026-12-03) or `BR1.<channelId>.<key>.<request>`,
 * the request being base64url(UTF-8 JSON {"u": user, "n": device name}).
 */
export function formatLinkCode(channelId: string, publicKey: Uint8Array, request?: LinkRequest): string {
  const base = `${LINK_CODE_PREFIX}.${channelId}.${toBase64url(publicKey)}`;
  if (!request) return base;
  const name = [...request.deviceName].slice(0, MAX_LINK_DEVICE_NAME).join('');
  return `${base}.${toBase64url(utf8(JSON.stringify({ u: request.user, n: name })))}`;
}

export function parseLinkCode(code: string): { channelId: string; publicKey: Uint8Array; request?: LinkRequest } {
  const parts = code.trim().split('.');
  if ((parts.length !== 3 && parts.length !== 4) || parts[0] !== LINK_CODE_PREFIX) throw new InvalidLinkCodeError();
  const [, channelId, key, requestPart] = parts as [string, string, string, string | undefined];
  let channel: Uint8Array;
  let publicKey: Uint8Array;
  let request: LinkRequest | undefined;
  try {
    channel = fromBase64url(channelId);
    publicKey = fromBase64url(key);
    if (requestPart !== undefined) {
      const o = JSON.parse(fromUtf8(fromBase64url(requestPart))) as { u?: unknown; n?: unknown };
      if (typeof o.u !== 'string' || !isValidUserName(o.u) || typeof o.n !== 'string' || [...o.n].length > MAX_LINK_DEVICE_NAME) throw new Error('bad');
      request = { user: o.u, deviceName: o.n };
    }
  } catch {
    throw new InvalidLinkCodeError();
  }
  if (channel.length === 0 || channel.length > 64 || !isValidX25519PublicKey(publicKey)) throw new InvalidLinkCodeError();
  return request ? { channelId, publicKey, request } : { channelId, publicKey };
}

/** The companion's device keys and certificate, made by the primary (LinkState format 2). */
export interface LinkedDevice {
  readonly deviceId: number;
  readonly signingSeed: Uint8Array;
  readonly identityPrivate: Uint8Array;
  readonly filePrivate: Uint8Array;
  /** Its certificate from the master key (device-certificate.ts). */
  readonly certificate: Uint8Array;
}

/**
 * The account state sealed into the provisioning envelope (opaque to the protocol). Format 2
 * (custody): `deviceList` is the NEW list, signed by the primary, that adds `device` (with its
 * proof of possession); the companion publishes it. Format 1 (the current list, the master seed
 * beside it in the envelope) is refused.
 */
export interface LinkState {
  readonly deviceList: Uint8Array;
  readonly contacts: Map<string, Contact>;
  readonly device: LinkedDevice;
  /**
   * The collection keys the approving device holds (id → owner, name, key epochs: PROTOCOL.md
   * §19.1), so the new device reads the user's records and message history at once. Optional in
   * format 2: an older approver sends none, and the new device then gets them by `records
   * sync-keys` on another device.
   */
  readonly collections?: Map<string, CollectionEntry>;
  /** The names of the user's devices the primary knows (optional: added 2026-12-03, F7). */
  readonly deviceNames?: readonly DeviceName[];
}
/** A device's name, as its user gave it (local: never sent to the relay in clear). */
export interface DeviceName {
  readonly deviceId: number;
  readonly name: string;
}
export const LINK_STATE_FORMAT = 2;
/** Above this many bytes the approver leaves the collection keys out of the state (the envelope carries at most 1 MiB). */
export const LINK_STATE_COLLECTIONS_BUDGET = 512 * 1024;

export function encodeLinkState(s: LinkState): Uint8Array {
  const contacts = [...s.contacts].map(([user, c]) => ({
    user,
    masterKey: toBase64url(c.masterKey),
    verified: c.verified,
    pinnedAt: c.pinnedAt,
    deviceList: c.deviceList ? toBase64url(c.deviceList) : null,
  }));
  const d = s.device;
  const device = {
    deviceId: d.deviceId,
    signingSeed: toBase64url(d.signingSeed),
    identityPrivate: toBase64url(d.identityPrivate),
    filePrivate: toBase64url(d.filePrivate),
    certificate: toBase64url(d.certificate),
  };
  const collections = [...(s.collections ?? [])].map(([id, c]) => ({
    id,
    owner: c.owner,
    name: c.name,
    keys: c.keys.map((k) => ({ epoch: k.epoch, key: toBase64url(k.key) })),
  }));
  const names = s.deviceNames ? { deviceNames: s.deviceNames.map((d) => ({ deviceId: d.deviceId, name: d.name })) } : {};
  return utf8(JSON.stringify({ v: LINK_STATE_FORMAT, deviceList: toBase64url(s.deviceList), contacts, device, collections, ...names }));
}

export function decodeLinkState(bytes: Uint8Array): LinkState {
  let o: { v: number; deviceList: string; contacts: unknown[]; device: Record<string, unknown>; collections?: unknown; deviceNames?: unknown };
  try {
    o = JSON.parse(fromUtf8(bytes)) as typeof o;
  } catch {
    throw new ProfileCorruptError('the approving device sent account state this version cannot read');
  }
  if (o?.v === 1) throw new ProvisioningFormatError();
  try {
    if (o.v !== LINK_STATE_FORMAT || !Array.isArray(o.contacts) || typeof o.device !== 'object' || o.device === null) throw new Error('bad');
    const dv = o.device;
    if (!Number.isInteger(dv.deviceId)) throw new Error('bad');
    const bytes32 = (v: unknown) => {
      const b = fromBase64url(String(v));
      if (b.length !== 32) throw new Error('bad');
      return b;
    };
    const device: LinkedDevice = {
      deviceId: dv.deviceId as number,
      signingSeed: bytes32(dv.signingSeed),
      identityPrivate: bytes32(dv.identityPrivate),
      filePrivate: bytes32(dv.filePrivate),
      certificate: fromBase64url(String(dv.certificate)),
    };
    const contacts = new Map<string, Contact>();
    for (const raw of o.contacts) {
      const c = raw as { user: string; masterKey: string; verified: boolean; pinnedAt: number; deviceList: string | null };
      if (typeof c.user !== 'string' || typeof c.verified !== 'boolean' || typeof c.pinnedAt !== 'number') throw new Error('bad');
      contacts.set(c.user, {
        masterKey: fromBase64url(c.masterKey),
        verified: c.verified,
        pinnedAt: c.pinnedAt,
        deviceList: c.deviceList ? fromBase64url(c.deviceList) : null,
        keyChange: null,
      });
    }
    const deviceNames: DeviceName[] = [];
    if (Array.isArray(o.deviceNames)) {
      for (const raw of o.deviceNames.slice(0, 100)) {
        const d = raw as { deviceId?: unknown; name?: unknown };
        if (Number.isInteger(d.deviceId) && typeof d.name === 'string' && d.name.length <= 256)
          deviceNames.push({ deviceId: d.deviceId as number, name: d.name });
      }
    }
    return { deviceList: fromBase64url(o.deviceList), contacts, device, collections: decodeCollections(o.collections), deviceNames };
  } catch {
    throw new ProfileCorruptError('the approving device sent account state this version cannot read');
  }
}

/** The `collections` of a LinkState (absent from an older approver's: none). Throws on a malformed one. */
function decodeCollections(raw: unknown): Map<string, CollectionEntry> {
  const out = new Map<string, CollectionEntry>();
  if (raw === undefined) return out;
  if (!Array.isArray(raw)) throw new Error('bad');
  for (const c of raw as { id: unknown; owner: unknown; name: unknown; keys: unknown }[]) {
    if (typeof c?.id !== 'string' || typeof c.owner !== 'string' || typeof c.name !== 'string' || !Array.isArray(c.keys)) throw new Error('bad');
    const keys = (c.keys as { epoch: unknown; key: unknown }[]).map((k) => {
      const key = fromBase64url(String(k?.key));
      if (!Number.isSafeInteger(k?.epoch) || key.length !== 32) throw new Error('bad');
      return { epoch: k.epoch as number, key };
    });
    out.set(c.id, { owner: c.owner, name: c.name, keys });
  }
  return out;
}

/** A device id not in `list` (random, 31 bits, as generateDeviceKeys picks them). */
export function isFreeDeviceId(list: DeviceList, id: number): boolean {
  return !list.devices.some((d) => d.deviceId === id);
}

export const entryOf = (d: {
  deviceId: number;
  signing: { publicKey: Uint8Array };
  identity: { publicKey: Uint8Array };
  file?: { publicKey: Uint8Array };
}): DeviceEntry => ({
  deviceId: d.deviceId,
  signingKey: d.signing.publicKey,
  identityKey: d.identity.publicKey,
  ...(d.file ? { fileKey: d.file.publicKey } : {}),
});
