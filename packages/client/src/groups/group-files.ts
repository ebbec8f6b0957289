/**
 * Files shared with a group (docs/PROTOCOL.md §22.7; issue 14). A group file is an ordinary
 * encrypted file (§15) whose readers are the group's member users: its header wraps the file key
 * to the current devices of each (verified device lists, files/access.ts), the relay lets exactly
 * those users fetch it, and the owner signs that reader list. The owner's device that put it
 * remembers which group it follows (profile `groups.files`: the relay never learns the binding) and
 * the member devices it was keyed for; whenever that device syncs its groups it compares them with
 * the group's current leaves and reuses the 1:1 machinery (files/sharing.ts):
 *
 * - a member user gone (removed, left): `revokeFile` — a new file key, the payload re-encrypted,
 *   the relay cuts the user off at once and deletes the old payload once the new one is complete;
 * - a member device gone (revoked): `rekeyFile` — the same, removing nobody;
 * - a member user added: `shareFile`; a member device added: `rewrapFile` (same key, new header).
 *
 * A failure leaves the record as it was, so the next sync tries again.
 */
import type { Context } from '../context.js';
import { errorInfo, NotFoundError } from '../errors.js';
import type { FileSource, PutOptions, PutResult } from '../files/types.js';
import { putFile, rekeyFile, revokeFile, rewrapFile, shareFile } from '../files.js';
import type { GroupFileEntry } from '../profile.js';
import type { DeviceRef } from './credential.js';

/** A group's member devices, or undefined when this device is no longer a member. */
export type GroupDevices = (group: string) => Promise<readonly DeviceRef[] | undefined>;

export interface GroupFilesResult {
  /** Files whose key or header changed to follow their group. */
  readonly updated: string[];
  readonly failed: { id: string; code: string; message: string }[];
}

const keyOf = (d: DeviceRef) => `${d.user}/${d.deviceId}`;
const userOf = (key: string) => key.slice(0, key.lastIndexOf('/'));

/** Uploads `source` for the group's member users (their current devices) and remembers the binding. */
export async function putGroupFile(
  ctx: Context,
  devices: readonly DeviceRef[],
  group: string,
  source: FileSource,
  options: Omit<PutOptions, 'to'>,
): Promise<PutResult> {
  const users = [...new Set(devices.map((d) => d.user))].filter((u) => u !== ctx.account.user).sort();
  const r = await putFile(ctx, source, { ...options, to: users });
  await remember(ctx, r.file.id, { group, devices: devices.map(keyOf).sort() });
  return r;
}

async function remember(ctx: Context, id: string, entry: GroupFileEntry | undefined): Promise<void> {
  await ctx.profile.transact(async (tx) => {
    const r = await tx.get('groups');
    const files = new Map(r.files ?? []);
    if (entry) files.set(id, entry);
    else files.delete(id);
    r.files = files;
    tx.set('groups', r);
  });
}

/** Brings every group file this device put in line with its group's current members (see above). */
export async function followGroupFiles(ctx: Context, membersOf: GroupDevices): Promise<GroupFilesResult> {
  const updated: string[] = [];
  const failed: GroupFilesResult['failed'] = [];
  const files = (await ctx.profile.read('groups')).files;
  if (!files || files.size === 0) return { updated, failed };
  const self = ctx.account.user;
  for (const [id, entry] of files) {
    const current = await membersOf(entry.group);
    // We left (or were removed from) the group: the file stays as it is, no longer following it.
    if (!current) {
      await remember(ctx, id, undefined);
      continue;
    }
    const now = current.map(keyOf).sort();
    const before = new Set(entry.devices);
    if (now.length === before.size && now.every((k) => before.has(k))) continue;
    const nowSet = new Set(now);
    const usersNow = new Set(now.map(userOf));
    const usersBefore = new Set(entry.devices.map(userOf));
    const goneUsers = [...usersBefore].filter((u) => !usersNow.has(u) && u !== self);
    const newUsers = [...usersNow].filter((u) => !usersBefore.has(u) && u !== self);
    const goneDevices = entry.devices.filter((k) => !nowSet.has(k) && usersNow.has(userOf(k)));
    const newDevices = now.filter((k) => !before.has(k) && usersBefore.has(userOf(k)));
    try {
      // Each of these writes a header for the current devices of every reader.
      for (const u of goneUsers) await revokeFile(ctx, id, u);
      for (const u of newUsers) await shareFile(ctx, id, u);
      if (goneUsers.length === 0 && goneDevices.length > 0) await rekeyFile(ctx, id);
      else if (goneUsers.length === 0 && newUsers.length === 0 && newDevices.length > 0) await rewrapFile(ctx, id);
      await remember(ctx, id, { group: entry.group, devices: now });
      updated.push(id);
    } catch (e) {
      // The file was deleted: nothing left to follow.
      if (e instanceof NotFoundError) {
        await remember(ctx, id, undefined);
        continue;
      }
      const info = errorInfo(e);
      failed.push({ id, code: info.code, message: info.message });
    }
  }
  return { updated, failed };
}
