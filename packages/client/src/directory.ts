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
 *
 * Another user's list must also be fresh and fully proven (docs/PROTOCOL.md §5): issued less than
 * DEVICE_LIST_MAX_AGE_MS ago (StaleDeviceListError) and every device with its proof of possession
 * (UnprovenDeviceError), also when a list held is reused without fetching. Our own list is
 * verified in migration mode (older formats, entries not yet proved): this device re-signs it
 * (own-list.ts).
 *
 * Sending uses the list verified by the last fetch (`listForSend`) while that fetch is younger than
 * `directoryMaxAgeMs` and the contact is unchanged since; otherwise it fetches and verifies again.
 * The relay's 409 `mismatched_devices` (send.ts) also forces a fetch, so a device set that changed
 * is corrected at once; a new master key is noticed at the next fetch (README, "Trust").
 */
import {
  assertDeviceListFresh,
  DecodeError,
  type DeviceEntry,
  type DeviceList,
  type DeviceListCheck,
  decodeDeviceList,
  equal,
  UnprovenDeviceError,
  verifyDeviceList,
} from '@blindrelay/protocol';
import type { Context } from './context.js';
import { anyToken, forgetTokens } from './delivery.js';
import { InvalidDeliveryTokenError, KeyChangedError, RevokedError, UntrustedDeviceError } from './errors.js';
import { followRotation } from './master-key-rotation.js';
import type { Contact, Transaction } from './profile.js';
import { pruneSessions } from './sessions.js';

/** A fetch of a user's directory entry whose list was verified and adopted (in memory only). */
export interface DirectoryFetch {
  /** ctx.now() of the fetch. */
  readonly at: number;
  /** The pinned master key and the adopted list bytes at that time. */
  readonly masterKey: Uint8Array;
  readonly list: Uint8Array;
}

/**
 * Receiving accepts a message from a device of a list fetched and verified at most this long ago;
 * an older list (`Contact.listCheckedAt`) is fetched and verified again first.
 */
export const SENDER_LIST_MAX_AGE_MS = 10 * 60_000;

/** Default for ClientEnvironment.directoryMaxAgeMs. */
export const DIRECTORY_MAX_AGE_MS = 60_000;

const decoded = new WeakMap<Uint8Array, DeviceList>();
/** decodeDeviceList, remembered per (immutable) byte array of a stored contact. */
export function deviceListOf(bytes: Uint8Array): DeviceList {
  let list = decoded.get(bytes);
  if (!list) {
    list = decodeDeviceList(bytes);
    decoded.set(bytes, list);
  }
  return list;
}

/** Within the freshness bound (§5.1) and fully proven: usable without fetching again. */
function isFresh(list: DeviceList, now: number): boolean {
  try {
    assertDeviceListFresh(list, now);
    return list.devices.every((d) => d.proof !== undefined);
  } catch {
    return false;
  }
}

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
  /**
   * Only the user's master key is wanted (a file owner's signature, a safety number): their list
   * is verified but need not be fresh or fully proven, as no device of it is used.
   */
  keyOnly?: boolean;
  /** Pin a changed master key without verifying it (`--accept-new-key`). */
  acceptNewKey?: boolean;
  /**
   * Our own user only: the directory entry as served to a request made earlier in this same
   * transaction (send.ts asks for it in parallel with the recipient's). Checked exactly as a
   * response fetched now.
   */
  served?: Promise<ServedEntry>;
}

export type ServedEntry = Awaited<ReturnType<Context['api']['getUser']>>;

const toKeep = (list: DeviceList) => new Map(list.devices.map((d) => [d.deviceId, d.identityKey] as const));

/**
 * The directory entry as served. For another user one of whose devices' delivery tokens we hold
 * (and sealed sends on), the lookup is unauthenticated, authorised by that token (docs/API.md
 * §11): an authenticated lookup would tell the relay who is about to write to whom. A refused token
 * is forgotten and the lookup made authenticated.
 */
async function lookUp(ctx: Context, tx: Transaction, user: string) {
  if (user !== ctx.account.user && ctx.sealedSends !== false) {
    const held = await anyToken(tx, user);
    if (held) {
      try {
        return await ctx.api.getUserSealed(user, held.deviceId, held.token);
      } catch (e) {
        if (!(e instanceof InvalidDeliveryTokenError)) throw e;
        await forgetTokens(tx, user);
      }
    }
  }
  return ctx.api.getUser(user);
}

/** Fetch the user's directory entry and check it as above; updates contacts and prunes sessions. */
export async function resolveUser(ctx: Context, tx: Transaction, user: string, options: ResolveOptions): Promise<Resolved> {
  const { p } = ctx;
  let account = ctx.account;
  if (options.served && user !== account.user) throw new TypeError('resolveUser: a prefetched entry is for our own user only');
  const served = await (options.served ?? lookUp(ctx, tx, user));
  const decoded = decodeDeviceList(served.deviceList);
  if (decoded.user !== user) throw new DecodeError('device list: issued for another user');
  const contacts = await tx.get('contacts');
  const now = ctx.now();
  const existing = contacts.contacts.get(user);
  const previous = existing?.deviceList ? deviceListOf(existing.deviceList) : undefined;
  const fetched = ctx.directory.get(user);
  const own = user === account.user;
  const strict = !own && !options.keyOnly && options.mode !== 'lookup';
  /** Another user's list to use: fresh and fully proven; ours (this device may have to migrate it), or one looked at only: verified as signed. */
  const rules = (previousList?: DeviceList): DeviceListCheck =>
    strict ? { previous: previousList, now } : { previous: previousList, now: null, migration: true };

  /**
   * verifyDeviceList against `masterKey` and the stored list; the signatures are not checked again
   * when the served bytes are the stored list and were verified against this same key by an
   * earlier fetch of this process (its freshness is, as time passes).
   */
  const verify = async (masterKey: Uint8Array): Promise<DeviceList> => {
    if (previous && fetched && equal(fetched.masterKey, masterKey) && equal(fetched.list, served.deviceList) && equal(previous.encoded, served.deviceList)) {
      if (strict) {
        // Verified earlier, perhaps only as a lookup: fresh and fully proven are checked again.
        assertDeviceListFresh(previous, now);
        const unproven = previous.devices.find((d) => !d.proof);
        if (unproven) throw new UnprovenDeviceError(`device list of ${user}: device ${unproven.deviceId} has not proved possession of its keys`);
      }
      return previous;
    }
    return verifyDeviceList(p, served.deviceList, { user, masterKey }, rules(previous));
  };

  const adopt = async (list: DeviceList, verified: Contact, pinned: boolean): Promise<Resolved> => {
    const contact: Contact = { ...verified, listCheckedAt: now };
    // Another user's list lost a device (revoked): our files shared with them still name it (custody.ts).
    if (!own && previous && equal(previous.masterKey, list.masterKey) && lostDevice(previous, list)) contact.devicesRemovedAt ??= now;
    if (!existing || !sameContact(existing, contact)) {
      contacts.contacts.set(user, contact);
      tx.set('contacts', contacts);
    }
    // A replaced master key invalidates every session with the user; otherwise keep listed devices only.
    const replaced = existing !== undefined && !equal(existing.masterKey, contact.masterKey);
    await pruneSessions(tx, user, replaced ? null : toKeep(list));
    ctx.directory.set(user, { at: now, masterKey: contact.masterKey, list: list.encoded });
    return { list, contact, pinned };
  };

  if (own) {
    // Our master key was rotated by our primary: follow it (master-key-rotation.ts, PROTOCOL.md §16.4).
    if (!equal(decoded.masterKey, account.masterKey) && served.rotation) account = await followRotation(ctx, tx, served.rotation, decoded.masterKey);
    const list = await verify(account.masterKey);
    if (!list.devices.some((d) => d.deviceId === account.deviceId)) throw new RevokedError();
    const newest = previous && previous.version >= list.version ? previous : list;
    const own: Contact = { masterKey: account.masterKey, verified: true, pinnedAt: existing?.pinnedAt ?? now, deviceList: newest.encoded, keyChange: null };
    if (existing?.linkApprovedAt !== undefined) own.linkApprovedAt = existing.linkApprovedAt;
    return adopt(newest, own, false);
  }

  if (!existing) {
    const list = await verifyDeviceList(p, served.deviceList, { user, masterKey: decoded.masterKey }, rules());
    return adopt(list, { masterKey: decoded.masterKey, verified: false, pinnedAt: now, deviceList: list.encoded, keyChange: null }, true);
  }

  if (equal(decoded.masterKey, existing.masterKey)) {
    const list = await verify(existing.masterKey);
    let keyChange = existing.keyChange;
    if (keyChange) {
      if (options.acceptNewKey) keyChange = null;
      else if (options.mode === 'send') throw new KeyChangedError(user);
    }
    return adopt(list, { ...existing, deviceList: list.encoded, keyChange }, false);
  }

  // The relay serves another master key. Check it is at least self-consistent before recording it.
  ctx.directory.delete(user);
  const list = await verifyDeviceList(p, served.deviceList, { user, masterKey: decoded.masterKey }, rules());
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

/** True if `next` lacks a device of `prev`, or lists it with other keys. */
function lostDevice(prev: DeviceList, next: DeviceList): boolean {
  const same = (a?: Uint8Array, b?: Uint8Array) => (a && b ? equal(a, b) : a === b);
  return prev.devices.some((d) => {
    const n = next.devices.find((x) => x.deviceId === d.deviceId);
    return !n || !equal(n.identityKey, d.identityKey) || !same(n.fileKey, d.fileKey);
  });
}

function sameContact(a: Contact, b: Contact): boolean {
  const sameList = a.deviceList === null || b.deviceList === null ? a.deviceList === b.deviceList : equal(a.deviceList, b.deviceList);
  return (
    equal(a.masterKey, b.masterKey) &&
    a.verified === b.verified &&
    a.pinnedAt === b.pinnedAt &&
    sameList &&
    a.keyChange === b.keyChange &&
    a.listCheckedAt === b.listCheckedAt &&
    a.linkApprovedAt === b.linkApprovedAt &&
    a.devicesRemovedAt === b.devicesRemovedAt
  );
}

/**
 * How long after `approve` sending fetches our own list even when the list held has no other
 * device: the new device publishes the list that adds it once it got the approval (its link code
 * is valid for 10 minutes at most).
 */
export const LINK_APPROVAL_WINDOW_MS = 15 * 60_000;

/**
 * True if the device list held for our own user may lack a device we linked: this profile
 * approved a device less than LINK_APPROVAL_WINDOW_MS ago. With no other device in the list, a
 * send has no sync POST the relay could answer 409, and only our own devices can approve a new
 * one, so this is the one case the 409 does not cover.
 */
export async function ownLinkPending(ctx: Context, tx: Transaction): Promise<boolean> {
  const at = (await tx.get('contacts')).contacts.get(ctx.account.user)?.linkApprovedAt;
  return at !== undefined && !(ctx.now() - at >= LINK_APPROVAL_WINDOW_MS);
}

/**
 * The device list to send to `user`: the one adopted by this process's last fetch if that is
 * younger than ctx.directoryMaxAgeMs and the stored contact still holds it (same pinned key, same
 * list, no pending key change); otherwise fetched and verified now (resolveUser, mode `send`).
 */
export async function listForSend(
  ctx: Context,
  tx: Transaction,
  user: string,
  options: { acceptNewKey?: boolean; served?: Promise<ServedEntry> } = {},
): Promise<{ list: DeviceList; fetched: boolean }> {
  const last = ctx.directory.get(user);
  const age = last ? ctx.now() - last.at : -1;
  if (last && !options.acceptNewKey && age >= 0 && age < ctx.directoryMaxAgeMs) {
    const contact = (await tx.get('contacts')).contacts.get(user);
    if (contact?.deviceList && !contact.keyChange && equal(contact.masterKey, last.masterKey) && equal(contact.deviceList, last.list)) {
      const list = deviceListOf(contact.deviceList);
      if (user === ctx.account.user || isFresh(list, ctx.now())) return { list, fetched: false };
    }
  }
  const r = await resolveUser(ctx, tx, user, {
    mode: 'send',
    acceptNewKey: options.acceptNewKey ?? false,
    ...(options.served ? { served: options.served } : {}),
  });
  return { list: r.list, fetched: true };
}

/**
 * Our own directory entry, requested now when `listForSend` would fetch it (no fetch of this
 * process younger than ctx.directoryMaxAgeMs); undefined otherwise. A request not used is harmless.
 */
export function requestOwnEntry(ctx: Context): Promise<ServedEntry> | undefined {
  const last = ctx.directory.get(ctx.account.user);
  const age = last ? ctx.now() - last.at : -1;
  if (last && age >= 0 && age < ctx.directoryMaxAgeMs) return undefined;
  const requested = ctx.api.getUser(ctx.account.user);
  requested.catch(() => undefined); // its error is raised where it is used (resolveUser)
  return requested;
}

/**
 * The trusted master key and device entry of a sender device. The list is fetched and verified
 * again if the device is new to us or the stored list was verified more than
 * SENDER_LIST_MAX_AGE_MS ago (a revoked device, or a replaced master key, is noticed before its
 * message is accepted).
 */
export async function senderDevice(ctx: Context, tx: Transaction, user: string, deviceId: number): Promise<{ masterKey: Uint8Array; entry: DeviceEntry }> {
  const contacts = await tx.get('contacts');
  const known = contacts.contacts.get(user);
  let entry = known?.deviceList ? deviceListOf(known.deviceList).devices.find((d) => d.deviceId === deviceId) : undefined;
  let contact = known;
  const age = ctx.now() - (known?.listCheckedAt ?? Number.NEGATIVE_INFINITY);
  const ownUser = user === ctx.account.user;
  const fresh =
    age >= 0 &&
    age < SENDER_LIST_MAX_AGE_MS &&
    (ownUser || (known?.deviceList !== null && known?.deviceList !== undefined && isFresh(deviceListOf(known.deviceList), ctx.now())));
  if (!entry || !contact || !fresh) {
    const r = await resolveUser(ctx, tx, user, { mode: 'receive' });
    contact = r.contact;
    entry = r.list.devices.find((d) => d.deviceId === deviceId);
  }
  if (!entry) throw new UntrustedDeviceError(`device ${deviceId} is not in the verified device list of ${user}`);
  return { masterKey: user === ctx.account.user ? ctx.account.masterKey : contact.masterKey, entry };
}
