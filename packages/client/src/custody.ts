/**
 * Custody of the user's master key (docs/PROTOCOL.md §16, DESIGN.md "Keys: Custody").
 *
 * - The device that creates the account is the **primary**: it holds the master seed. Only it
 *   approves links, revokes devices, signs device lists and rotates the master key.
 * - A linked device is a **companion**: the primary generates its device keys at approval time,
 *   certifies them, signs the device list that adds it (with the companion's proof of possession,
 *   made with the companion's signing key) and seals all of that, never the master seed, to the new
 *   device (linking.ts, LinkState format 2). The companion sends, receives and opens and writes
 *   files with its own keys; a list it would sign cannot exist: it has no master key.
 * - A device's role is the presence of the seed in its profile (`AccountRecord.masterSeed`): one
 *   source of truth, nothing to keep in step.
 * - Profiles linked before custody all hold the seed (they are all "primary"). Migration: on each
 *   device that should become a companion, `demoteToCompanion` (CLI `device demote`) erases the
 *   seed once this device has checked that the user's current device list, fetched from the relay
 *   and verified under the master key, lists it with its own proof of possession (so it keeps
 *   working without the seed). Copies of the seed made before (backups of that profile, a stolen
 *   disk) are only made useless by rotating the master key on the primary afterwards
 *   (`rotate-master-key`, master-key-rotation.ts).
 */
import { equal, type SigningKeyPair } from '@blindrelay/protocol';
import type { Context } from './context.js';
import { resolveUser } from './directory.js';
import { errorInfo, InvalidArgumentError, NotPrimaryError } from './errors.js';
import { rekeyFile } from './files/sharing.js';
import type { ProgressListener } from './files/types.js';
import type { AccountRecord } from './profile.js';

/** True if this device holds the master seed (the user's primary device). */
export const isPrimary = (a: AccountRecord): boolean => a.masterSeed !== undefined;

/** The master key pair, or NotPrimaryError naming `what` needed it (nothing else happens). */
export function masterSigner(a: AccountRecord, what: string): SigningKeyPair {
  if (!a.masterSeed) throw new NotPrimaryError(what);
  return { seed: a.masterSeed, publicKey: a.masterKey };
}

/** Refuse `what` on a companion (NotPrimaryError). */
export function requirePrimary(a: AccountRecord, what: string): void {
  masterSigner(a, what);
}

/**
 * Make this (legacy, seed-holding) device a companion: verify that our current device list, as the
 * relay serves it and signed by our master key, lists this device with its proof of possession
 * and the keys this profile holds, then erase the master seed from the profile. Returns the new
 * account record (the client that called it must be reopened). InvalidArgumentError when the list
 * does not list us so (nothing changes); on a companion it changes nothing.
 */
export async function demoteToCompanion(ctx: Context): Promise<{ account: AccountRecord; changed: boolean }> {
  const a = ctx.account;
  if (!isPrimary(a)) return { account: a, changed: false };
  const account = await ctx.profile.transact(async (tx) => {
    const own = await resolveUser(ctx, tx, a.user, { mode: 'lookup' });
    const entry = own.list.devices.find((d) => d.deviceId === a.deviceId);
    if (!entry || !entry.proof || !equal(entry.signingKey, a.signingKey) || !equal(entry.identityKey, a.identityPublic)) {
      throw new InvalidArgumentError(
        'the device list on the relay does not list this device with its proof of possession yet: run send or receive on this device first (it adds its proof), then demote it',
      );
    }
    const stored = await tx.get('account');
    // The record is rewritten without the seed (profile files are replaced whole, so the old file
    // with the seed is gone from the profile; a copy made before is not: rotate the master key).
    const { masterSeed: _erased, ...rest } = stored;
    tx.set('account', rest);
    return rest as AccountRecord;
  });
  return { account, changed: true };
}

/**
 * After a device was revoked (PROTOCOL.md §16.3): re-encrypt every complete file we own under a new
 * file key, for the devices of the current lists only (files rekey). `revokedSigners`: the revoked
 * device's signing key, trusted for this re-key only (the versions it signed while listed). The revoked device's stanza
 * is gone from the new header, the payload it may have copied is replaced, and the new version's
 * reader list and seal are signed by a current device. One failure does not stop the others.
 */
export async function rekeyOwnFiles(
  ctx: Context,
  revokedSigners: readonly Uint8Array[],
  onProgress?: ProgressListener,
): Promise<{ rekeyed: string[]; rekeyFailed: { id: string; code: string; message: string }[] }> {
  // What the revoked device signed while it was listed is re-signed by this device; nothing else
  // accepts its signatures any more (files/access.ts ownerDeviceKeys).
  const rekeyCtx: Context = { ...ctx, formerOwnSigners: revokedSigners };
  const rekeyed: string[] = [];
  const rekeyFailed: { id: string; code: string; message: string }[] = [];
  for (const f of await ctx.api.listFiles()) {
    if (f.owner !== ctx.account.user || !f.complete) continue;
    try {
      await rekeyFile(rekeyCtx, f.id, onProgress ? { onProgress } : {});
      rekeyed.push(f.id);
    } catch (e) {
      const info = errorInfo(e);
      rekeyFailed.push({ id: f.id, code: info.code, message: info.message });
    }
  }
  return { rekeyed, rekeyFailed };
}

/**
 * Files we own that are shared with a user whose device list lost a device (Contact
 * `devicesRemovedAt`, set by directory.ts when a verified list of theirs drops one): re-encrypt
 * each under a new file key for the reader's current devices (files rekey), so the removed device's
 * stanza is gone and the copy it could open is replaced (PROTOCOL.md §16.3). A reader's mark is
 * cleared once every file shared with them was re-keyed. Any device of ours may run it.
 */
export async function rekeyForRemovedReaderDevices(
  ctx: Context,
  onProgress?: ProgressListener,
): Promise<{ readers: string[]; rekeyed: string[]; rekeyFailed: { id: string; code: string; message: string }[] }> {
  const marked = new Map<string, number>();
  for (const [user, c] of (await ctx.profile.read('contacts')).contacts)
    if (user !== ctx.account.user && c.devicesRemovedAt !== undefined) marked.set(user, c.devicesRemovedAt);
  const rekeyed: string[] = [];
  const rekeyFailed: { id: string; code: string; message: string }[] = [];
  if (marked.size === 0) return { readers: [], rekeyed, rekeyFailed };
  const failedReaders = new Set<string>();
  for (const f of await ctx.api.listFiles()) {
    if (f.owner !== ctx.account.user || !f.complete) continue;
    const affected = f.readers.filter((r) => marked.has(r));
    if (affected.length === 0) continue;
    try {
      await rekeyFile(ctx, f.id, onProgress ? { onProgress } : {});
      rekeyed.push(f.id);
    } catch (e) {
      const info = errorInfo(e);
      rekeyFailed.push({ id: f.id, code: info.code, message: info.message });
      for (const r of affected) failedReaders.add(r);
    }
  }
  const cleared = [...marked.keys()].filter((r) => !failedReaders.has(r));
  await ctx.profile.transact(async (tx) => {
    const contacts = await tx.get('contacts');
    for (const r of cleared) {
      const c = contacts.contacts.get(r);
      // Only the mark we acted on: a newer removal seen meanwhile stays.
      if (c && c.devicesRemovedAt === marked.get(r)) {
        const { devicesRemovedAt: _done, ...rest } = c;
        contacts.contacts.set(r, rest);
      }
    }
    tx.set('contacts', contacts);
  });
  return { readers: [...marked.keys()], rekeyed, rekeyFailed };
}
