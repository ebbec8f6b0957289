/**
 * Devices of our own user (docs/API.md §3, §7): linking a new device, approving it from an
 * existing one, listing and revoking devices. Every change is a new device list signed with the
 * master seed (version + 1), which every device of the user holds.
 *
 * Link code: `BR1.<channelId>.<ephemeral X25519 public key>` (both base64url). The new device
 * shows it; the existing device seals the master seed and account state (our own device list,
 * contacts with their pins and verified flags) to that key (sealProvisioning, PROTOCOL.md §12)
 * and hands the envelope to the relay, which only sees ciphertext.
 */
import { type DeviceEntry, type DeviceList, fromUtf8, isValidX25519PublicKey, utf8 } from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from './base64url.js';
import { InvalidLinkCodeError, ProfileCorruptError } from './errors.js';
import type { Contact } from './profile.js';

export const LINK_CODE_PREFIX = 'BR1';

export function formatLinkCode(channelId: string, publicKey: Uint8Array): string {
  return `${LINK_CODE_PREFIX}.${channelId}.${toBase64url(publicKey)}`;
}

export function parseLinkCode(code: string): { channelId: string; publicKey: Uint8Array } {
  const parts = code.trim().split('.');
  if (parts.length !== 3 || parts[0] !== LINK_CODE_PREFIX) throw new InvalidLinkCodeError();
  const [, channelId, key] = parts as [string, string, string];
  let channel: Uint8Array;
  let publicKey: Uint8Array;
  try {
    channel = fromBase64url(channelId);
    publicKey = fromBase64url(key);
  } catch {
    throw new InvalidLinkCodeError();
  }
  if (channel.length === 0 || channel.length > 64 || !isValidX25519PublicKey(publicKey)) throw new InvalidLinkCodeError();
  return { channelId, publicKey };
}

/** The account state sealed into the provisioning envelope (opaque to the protocol). */
export interface LinkState {
  /** Our newest device list, as the approving device verified it. */
  readonly deviceList: Uint8Array;
  readonly contacts: Map<string, Contact>;
}

export function encodeLinkState(s: LinkState): Uint8Array {
  const contacts = [...s.contacts].map(([user, c]) => ({
    user,
    masterKey: toBase64url(c.masterKey),
    verified: c.verified,
    pinnedAt: c.pinnedAt,
    deviceList: c.deviceList ? toBase64url(c.deviceList) : null,
  }));
  return utf8(JSON.stringify({ v: 1, deviceList: toBase64url(s.deviceList), contacts }));
}

export function decodeLinkState(bytes: Uint8Array): LinkState {
  try {
    const o = JSON.parse(fromUtf8(bytes)) as { v: number; deviceList: string; contacts: unknown[] };
    if (o.v !== 1 || !Array.isArray(o.contacts)) throw new Error('bad');
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
    return { deviceList: fromBase64url(o.deviceList), contacts };
  } catch {
    throw new ProfileCorruptError('the approving device sent account state this version cannot read');
  }
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
