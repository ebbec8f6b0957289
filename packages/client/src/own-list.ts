/**
 * Our own user's signed device list (docs/PROTOCOL.md §5): every change this device makes, and
 * keeping it fresh. Only the primary device signs it (custody.ts, §16): on a companion signing
 * throws NotPrimaryError and refreshing does nothing (the primary keeps the list fresh).
 *
 * - Every list we sign carries this device's proof of possession of its keys (re-made for the
 *   entry as it will be signed, file key included) and the other devices' entries as the current
 *   list has them, proofs included (we cannot make another device's proof).
 * - Freshness (§5.1): peers refuse a list issued more than DEVICE_LIST_MAX_AGE_MS ago, so a
 *   device re-signs ours (version + 1, issuedAt = now) once the one held is older than
 *   DEVICE_LIST_REFRESH_MS, when send, receive or listen run (`refreshOwnList`).
 * - Migration (§5.3): a list of format 1 or 2, or one whose entry for this device has no proof,
 *   is re-signed in format 3 at once. Devices that have not run this version yet keep their
 *   entries without a proof; peers refuse the list (ERR_UNPROVEN_DEVICE) until each of them has
 *   added its own, or was revoked.
 */
import {
  DEVICE_LIST_FORMAT,
  DEVICE_LIST_REFRESH_MS,
  type DeviceEntry,
  type DeviceList,
  decodeDeviceList,
  proveDeviceEntry,
  signDeviceList,
} from '@blindrelay/protocol';
import type { Context } from './context.js';
import { isPrimary, masterSigner } from './custody.js';
import { resolveUser, SENDER_LIST_MAX_AGE_MS } from './directory.js';
import { ConflictError } from './errors.js';
import type { AccountRecord, Contact, Transaction } from './profile.js';
import { pruneSessions } from './sessions.js';

/**
 * Sign `devices` as our list's next version (after `current`), with this device's entry proved
 * afresh. Returns the signed bytes; nothing is published.
 */
export async function signOwnList(
  ctx: Pick<Context, 'p' | 'now'>,
  account: AccountRecord,
  current: DeviceList | null,
  devices: readonly DeviceEntry[],
): Promise<Uint8Array> {
  const p = ctx.p;
  const master = masterSigner(account, 'signing the device list');
  const entries = await Promise.all(
    devices.map((d) => (d.deviceId === account.deviceId ? proveDeviceEntry(p, account.user, account.masterKey, d, account.signingSeed) : d)),
  );
  const version = (current?.version ?? 0) + 1;
  return signDeviceList(p, account.user, master, { version, issuedAt: ctx.now() }, entries);
}

/**
 * Publish `devices` as our list's next version after `current` (signOwnList), then hold it: the
 * stored contact, the directory cache, and the sessions of devices that left are dropped.
 */
export async function publishOwnList(ctx: Context, tx: Transaction, current: DeviceList, devices: readonly DeviceEntry[]): Promise<DeviceList> {
  const a = ctx.account;
  const signed = await signOwnList(ctx, a, current, devices);
  await ctx.api.putDeviceList(a.user, signed);
  const next = decodeDeviceList(signed);
  const contacts = await tx.get('contacts');
  contacts.contacts.set(a.user, { ...(contacts.contacts.get(a.user) as Contact), deviceList: signed, listCheckedAt: ctx.now() });
  tx.set('contacts', contacts);
  await pruneSessions(tx, a.user, new Map(next.devices.map((d) => [d.deviceId, d.identityKey] as const)));
  ctx.directory.set(a.user, { at: ctx.now(), masterKey: a.masterKey, list: signed });
  return next;
}

/** True when `list` must be re-signed by this device: an old format, no proof of ours, or older than the refresh age. */
export function ownListDue(list: DeviceList, account: AccountRecord, now: number): boolean {
  if (list.format !== DEVICE_LIST_FORMAT) return true;
  const own = list.devices.find((d) => d.deviceId === account.deviceId);
  if (own && !own.proof) return true;
  return !(now - list.issuedAt < DEVICE_LIST_REFRESH_MS);
}

/** When `list` will be due (ownListDue), in ms since the epoch; 0 if it is now. */
function dueAt(list: DeviceList, account: AccountRecord, now: number): number {
  return ownListDue(list, account, now) ? 0 : list.issuedAt + DEVICE_LIST_REFRESH_MS;
}

/**
 * Re-sign our list if the one held is due (ownListDue): fetched and verified first, and checked
 * again, so devices refreshing at the same time publish one new version between them (the relay
 * refuses a second one with the same version: 409, then the newer list is fetched and found not
 * due). Cheap when nothing is due (no request). Returns whether this device published a list and
 * when the list will be due next.
 */
export async function refreshOwnList(ctx: Context): Promise<{ published: boolean; dueAt: number }> {
  const a = ctx.account;
  // Custody (§16): only the primary signs our list. A companion looks at it (a rotation to follow,
  // its own revocation) at most every SENDER_LIST_MAX_AGE_MS.
  if (!isPrimary(a)) {
    // Best effort and silent: what fails here (revoked, unreachable) fails the operation itself next.
    await ctx.profile.transact((tx) => resolveUser(ctx, tx, a.user, { mode: 'lookup' })).catch(() => undefined);
    return { published: false, dueAt: ctx.now() + SENDER_LIST_MAX_AGE_MS };
  }
  for (let attempt = 0; ; attempt++) {
    try {
      return await ctx.profile.transact(async (tx) => {
        const held = (await tx.get('contacts')).contacts.get(a.user)?.deviceList;
        if (held && !ownListDue(decodeDeviceList(held), a, ctx.now())) return { published: false, dueAt: dueAt(decodeDeviceList(held), a, ctx.now()) };
        const own = await resolveUser(ctx, tx, a.user, { mode: 'lookup' });
        if (!ownListDue(own.list, a, ctx.now())) return { published: false, dueAt: dueAt(own.list, a, ctx.now()) };
        const next = await publishOwnList(ctx, tx, own.list, own.list.devices);
        return { published: true, dueAt: dueAt(next, a, ctx.now()) };
      });
    } catch (e) {
      // Another device of ours published first: look again.
      if (!(e instanceof ConflictError) || attempt >= 2) throw e;
    }
  }
}
