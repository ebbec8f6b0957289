/**
 * Trust in other users' keys (DESIGN.md, trust model: the directory is untrusted).
 *
 * The relay serves `{masterKey, deviceList}` for a user; the client never takes its word:
 * - first contact: trust on first use: the master key that signed the served list is pinned;
 * - later: the served list must be signed by the pinned master key and must not roll back
 *   (verifyDeviceList with the newest list held; docs/PROTOCOL.md §5);
 * - a different master key is recorded as a pending key change and sending is refused
 *   (KeyChangedError) until the user verifies the new safety number or accepts the new key.
 *   The flag is sticky: it stays until `verify` or an explicit accept, even if the relay serves
 *   the pinned key again.
 * Our own user is checked the same way against our own master key.
 */
import { DecodeError, type DeviceEntry, type DeviceList, decodeDeviceList, equal, verifyDeviceList } from '@blindrelay/protocol';
import type { Context } from './context.js';
import { KeyChangedError, RevokedError, UntrustedDeviceError } from './errors.js';
import type { Contact, Transaction } from './profile.js';
import { pruneSessions } from './sessions.js';

export interface Resolved {
  /** The device list to use: verified against the trusted master key, newest held. */
  readonly list: DeviceList;
  readonly contact: Contact;
  /** The key was pinned just now (first contact or explicit accept). */
  readonly pinned: boolean;
}

export type ResolveMode =
  /** Sending: a pending key change refuses. */
  | 'send'
  /** Receiving from the user: only their pinned key counts; a new key is recorded and refused. */
  | 'receive'
  /** Looking at the user (safety numbers): a key change is recorded, not thrown. */
  | 'lookup';

export interface ResolveOptions {
  mode: ResolveMode;
  /** Pin a changed master key without verifying it (`--accept-new-key`). */
  acceptNewKey?: boolean;
}

const toKeep = (list: DeviceList) => new Map(list.devices.map((d) => [d.deviceId, d.identityKey] as const));

/** Fetch the user's directory entry and check it as above; updates contacts and prunes sessions. */
export async function resolveUser(ctx: Context, tx: Transaction, user: string, options: ResolveOptions): Promise<Resolved> {
  const { p, account } = ctx;
  const served = await ctx.api.getUser(user);
  const decoded = decodeDeviceList(served.deviceList);
  if (decoded.user !== user) throw new DecodeError('device list: issued for another user');
  const contacts = await tx.get('contacts');
  const now = ctx.now();
  const existing = contacts.contacts.get(user);
  const previous = existing?.deviceList ? decodeDeviceList(existing.deviceList) : undefined;

  const adopt = async (list: DeviceList, contact: Contact, pinned: boolean): Promise<Resolved> => {
    contacts.contacts.set(user, contact);
    tx.set('contacts', contacts);
    const state = await tx.get('state');
    // A replaced master key invalidates every session with the user; otherwise keep listed devices only.
    const replaced = existing !== undefined && !equal(existing.masterKey, contact.masterKey);
    if (pruneSessions(state, user, replaced ? null : toKeep(list)) > 0) tx.set('state', state);
    return { list, contact, pinned };
  };

  if (user === account.user) {
    const list = await verifyDeviceList(p, served.deviceList, { user, masterKey: account.masterKey }, previous);
    if (!list.devices.some((d) => d.deviceId === account.deviceId)) throw new RevokedError();
    const newest = previous && previous.version >= list.version ? previous : list;
    return adopt(
      newest,
      { masterKey: account.masterKey, verified: true, pinnedAt: existing?.pinnedAt ?? now, deviceList: newest.encoded, keyChange: null },
      false,
    );
  }

  if (!existing) {
    const list = await verifyDeviceList(p, served.deviceList, { user, masterKey: decoded.masterKey });
    return adopt(list, { masterKey: decoded.masterKey, verified: false, pinnedAt: now, deviceList: list.encoded, keyChange: null }, true);
  }

  if (equal(decoded.masterKey, existing.masterKey)) {
    const list = await verifyDeviceList(p, served.deviceList, { user, masterKey: existing.masterKey }, previous);
    if (existing.keyChange) {
      if (options.acceptNewKey) existing.keyChange = null;
      else if (options.mode === 'send') throw new KeyChangedError(user);
    }
    return adopt(list, { ...existing, deviceList: list.encoded }, false);
  }

  // The relay serves another master key. Check it is at least self-consistent before recording it.
  const list = await verifyDeviceList(p, served.deviceList, { user, masterKey: decoded.masterKey });
  if (options.acceptNewKey) {
    return adopt(list, { masterKey: decoded.masterKey, verified: false, pinnedAt: now, deviceList: list.encoded, keyChange: null }, true);
  }
  const flagged: Contact = { ...existing, keyChange: { masterKey: decoded.masterKey, deviceList: list.encoded, seenAt: now } };
  contacts.contacts.set(user, flagged);
  tx.set('contacts', contacts);
  if (options.mode === 'lookup') return { list, contact: flagged, pinned: false };
  await tx.flush();
  throw new KeyChangedError(user);
}

/** The trusted master key and device entry of a sender device, fetching the list if the device is new to us. */
export async function senderDevice(ctx: Context, tx: Transaction, user: string, deviceId: number): Promise<{ masterKey: Uint8Array; entry: DeviceEntry }> {
  const contacts = await tx.get('contacts');
  const known = contacts.contacts.get(user);
  let entry = known?.deviceList ? decodeDeviceList(known.deviceList).devices.find((d) => d.deviceId === deviceId) : undefined;
  let contact = known;
  if (!entry || !contact) {
    const r = await resolveUser(ctx, tx, user, { mode: 'receive' });
    contact = r.contact;
    entry = r.list.devices.find((d) => d.deviceId === deviceId);
  }
  if (!entry) throw new UntrustedDeviceError(`device ${deviceId} is not in the verified device list of ${user}`);
  return { masterKey: user === ctx.account.user ? ctx.account.masterKey : contact.masterKey, entry };
}
