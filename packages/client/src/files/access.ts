/**
 * Who may open an encrypted file (docs/PROTOCOL.md §15, docs/API.md §8): this device's file key,
 * the recipients of a header, and a file owner's trusted master key (verified.ts checks what the
 * owner signed with it).
 *
 * Recipients are every device of the owner and of each reader that published a file key in its
 * master-signed device list, taken only from lists verified by directory.ts (never from an
 * unsigned server answer). Devices without a file key are reported in `skipped`.
 */
import { AgeNoMatchError, equal, isValidUserName, parseHeader, unwrapFileKey, verifyHeaderMac, X25519Identity, X25519Recipient } from '@blindrelay/protocol';
import type { RelayFile } from '../api.js';
import type { Context } from '../context.js';
import { listForSend, resolveUser } from '../directory.js';
import { FileAccessError, FileCorruptError, InvalidArgumentError } from '../errors.js';
import { publishOwnList } from '../own-list.js';

async function ownIdentity(ctx: Context): Promise<X25519Identity> {
  const key = ctx.account.filePrivate;
  if (!key) throw new FileAccessError('this device has no file key yet');
  return X25519Identity.fromPrivateKey(ctx.p, key);
}

/**
 * Make sure our own device list carries this device's file key (profiles from before files
 * existed publish it here, as a new list version signed with the master seed).
 */
export async function publishOwnFileKey(ctx: Context): Promise<void> {
  const a = ctx.account;
  if (!a.filePublic) throw new FileAccessError('this device has no file key yet');
  const filePublic = a.filePublic;
  await ctx.profile.transact(async (tx) => {
    const own = await resolveUser(ctx, tx, a.user, { mode: 'lookup' });
    const entry = own.list.devices.find((d) => d.deviceId === a.deviceId);
    if (!entry || (entry.fileKey && equal(entry.fileKey, filePublic))) return;
    // The new entry is proved afresh (its proof of possession covers the file key).
    const devices = own.list.devices.map((d) => (d.deviceId === a.deviceId ? { ...d, fileKey: filePublic } : d));
    await publishOwnList(ctx, tx, own.list, devices);
  });
}

export interface Recipients {
  readonly recipients: X25519Recipient[];
  readonly skipped: { user: string; deviceId: number }[];
}

/** The file keys of every current device of `users` (our own user first), from verified lists. */
export async function recipientsOf(ctx: Context, users: readonly string[], acceptNewKey: boolean): Promise<Recipients> {
  await publishOwnFileKey(ctx);
  return ctx.profile.transact(async (tx) => {
    const recipients: X25519Recipient[] = [];
    const skipped: { user: string; deviceId: number }[] = [];
    for (const user of [ctx.account.user, ...users.filter((u) => u !== ctx.account.user)]) {
      const list =
        user === ctx.account.user ? (await resolveUser(ctx, tx, user, { mode: 'send' })).list : (await listForSend(ctx, tx, user, { acceptNewKey })).list;
      for (const d of list.devices) {
        if (d.fileKey) recipients.push(new X25519Recipient(d.fileKey));
        else skipped.push({ user, deviceId: d.deviceId });
      }
    }
    return { recipients, skipped };
  });
}

export function checkUsers(users: readonly string[], self: string): string[] {
  const out = [...new Set(users.map((u) => u.trim()))].filter((u) => u !== self);
  for (const u of out) if (!isValidUserName(u)) throw new InvalidArgumentError(`not a user name: ${u}`);
  return out;
}

/**
 * The file key of `file` for this device: FileAccessError if no stanza opens, FileCorruptError for a bad header.
 * A device restored from a backup also holds the file keys the backup carried (backup/backup.ts):
 * one of those opens the version it was saved for, once the header's MAC verifies under it.
 */
export async function fileKeyOf(ctx: Context, file: RelayFile): Promise<Uint8Array> {
  try {
    return await unwrapFileKey(ctx.p, file.header, [await ownIdentity(ctx)]);
  } catch (e) {
    if (e instanceof AgeNoMatchError) {
      const recovered = await recoveredFileKey(ctx, file);
      if (recovered) return recovered;
      throw new FileAccessError(
        file.owner === ctx.account.user
          ? `file ${file.id} has no key for this device yet: run \`blindrelay file rewrap ${file.id}\` on a device that has one`
          : `file ${file.id} has no key for this device: ask ${file.owner} to run \`blindrelay file rewrap ${file.id}\` (or to share it with you)`,
      );
    }
    if (e instanceof FileAccessError) throw e;
    throw new FileCorruptError(`file ${file.id}: the header does not verify (${(e as Error).message})`, { cause: e });
  }
}

/**
 * The signing keys of the owner's current devices, from the owner's device list verified under
 * the owner's trusted master key (ours, or the pinned key: directory.ts): who may sign format-3
 * reader lists and format-2 seals (custody, PROTOCOL.md §16.2).
 */
export async function ownerDeviceKeys(ctx: Context, owner: string, cache?: Map<string, Uint8Array[]>): Promise<Uint8Array[]> {
  const known = cache?.get(owner);
  if (known) return known;
  const own = owner === ctx.account.user;
  const keys = await ctx.profile.transact(async (tx) =>
    (await resolveUser(ctx, tx, owner, { mode: own ? 'lookup' : 'receive' })).list.devices.map((d) => d.signingKey),
  );
  // While a revocation re-keys our files, what the revoked device signed before it still counts.
  if (own && ctx.formerOwnSigners) keys.push(...ctx.formerOwnSigners);
  cache?.set(owner, keys);
  return keys;
}

/** A file key restored from a backup for this version of `file`, if its header verifies under it. */
async function recoveredFileKey(ctx: Context, file: RelayFile): Promise<Uint8Array | undefined> {
  const entry = (await ctx.profile.read('backup')).recovered.get(file.id);
  if (!entry || entry.version !== file.version) return undefined;
  try {
    const header = parseHeader(file.header);
    if (header.length !== file.header.length) return undefined;
    await verifyHeaderMac(ctx.p, header, entry.key);
    return entry.key.slice();
  } catch {
    return undefined;
  }
}

/** The trusted master key of a file's owner (ours, or the owner's pinned key: directory.ts). */
export async function ownerMasterKey(ctx: Context, owner: string, cache?: Map<string, Uint8Array>): Promise<Uint8Array> {
  if (owner === ctx.account.user) return ctx.account.masterKey;
  const known = cache?.get(owner);
  if (known) return known;
  const key = await ctx.profile.transact(async (tx) => (await resolveUser(ctx, tx, owner, { mode: 'receive', keyOnly: true })).contact.masterKey);
  cache?.set(owner, key);
  return key;
}
