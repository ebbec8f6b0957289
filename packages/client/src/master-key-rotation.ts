/**
 * Master-key rotation (docs/PROTOCOL.md §16.4): `blindrelay account rotate-master-key`.
 *
 * On the primary (`rotateMasterKey`):
 * 1. a new master key is generated and written to the profile as `pendingMasterSeed` first, so a
 *    crash after the relay accepted the rotation cannot lose the only copy of the new key;
 * 2. every device of the current list is carried over when its entry can be proved under the new
 *    key: this device with its own signing seed, each companion with the signing seed the primary
 *    kept when it made it (AccountRecord.companionSeeds). Devices it cannot prove (companions
 *    linked before custody, demoted later) are dropped: they must be linked again;
 * 3. each kept device gets a new certificate under the new key; a rotation statement signed by the
 *    old and the new key carries them, and the new list (version + 1, signed by the new key) is
 *    published with it. The relay accepts a list under another master key only with a statement
 *    that verifies under the key it stores;
 * 4. the profile switches to the new key (seed, certificate, own contact); the old seed is gone;
 *    every session is dropped (they were started under the old certificates).
 *
 * On our other devices (`followRotation`, called by directory.ts when the relay serves our user
 * under another master key with a statement): the statement must verify under the master key this
 * device trusts and name the served key; the device takes its new certificate from it and pins
 * the new key (a device holding the old seed erases it: it is worthless now). A device missing
 * from the statement was dropped (RevokedError). Only the newest statement is served: a device
 * that missed two rotations must be linked again.
 *
 * Other users do not follow a rotation: their pinned key no longer matches, which is a key change
 * (KeyChangedError on send until they verify the new safety number, as for any changed key).
 */
import {
  type DeviceEntry,
  equal,
  generateMasterKey,
  issueDeviceCertificate,
  proveDeviceEntry,
  signDeviceList,
  signMasterKeyRotation,
  UnknownSignerError,
  verifyMasterKeyRotation,
} from '@blindrelay/protocol';
import type { Context } from './context.js';
import { masterSigner } from './custody.js';
import { resolveUser } from './directory.js';
import { RevokedError } from './errors.js';
import type { AccountRecord, Contact, Transaction } from './profile.js';
import { dropAllSessions } from './sessions.js';

export interface RotationResult {
  /** The new device-list version. */
  readonly version: number;
  /** Devices carried over (with new certificates), this one included. */
  readonly kept: number[];
  /** Devices that could not be proved under the new key (link them again). */
  readonly dropped: number[];
}

/** The SDK keeps `ctx.account` current when this device's own record changes (rotation). */
function setAccount(ctx: Context, account: AccountRecord): void {
  (ctx as { account: AccountRecord }).account = account;
}

/** Rotate the master key (primary only: NotPrimaryError). See the module comment. */
export async function rotateMasterKey(ctx: Context): Promise<RotationResult> {
  const p = ctx.p;
  const old = masterSigner(ctx.account, 'rotating the master key');
  const user = ctx.account.user;
  // 1. The new key on disk before anything is published.
  const next = await generateMasterKey(p);
  await ctx.profile.transact(async (tx) => {
    const stored = await tx.get('account');
    tx.set('account', { ...stored, pendingMasterSeed: next.seed });
  });
  return ctx.profile.transact(async (tx) => {
    const own = await resolveUser(ctx, tx, user, { mode: 'lookup' });
    const stored = await tx.get('account');
    const seeds = new Map((stored.companionSeeds ?? []).map((c) => [c.deviceId, c.signingSeed] as const));
    const kept: DeviceEntry[] = [];
    const dropped: number[] = [];
    // 2. Every entry proved under the new key, or dropped.
    for (const d of own.list.devices) {
      const seed = d.deviceId === stored.deviceId ? stored.signingSeed : seeds.get(d.deviceId);
      if (!seed || !equal(await p.ed25519PublicKey(seed), d.signingKey)) {
        dropped.push(d.deviceId);
        continue;
      }
      kept.push(await proveDeviceEntry(p, user, next.publicKey, d, seed));
    }
    // 3. New certificates, the statement, the list; published together.
    const certificates = await Promise.all(
      kept.map((d) =>
        issueDeviceCertificate(p, user, next, { deviceId: d.deviceId, signing: { publicKey: d.signingKey }, identity: { publicKey: d.identityKey } }),
      ),
    );
    const now = ctx.now();
    const statement = await signMasterKeyRotation(p, user, old, next, now, certificates);
    const list = await signDeviceList(p, user, next, { version: own.list.version + 1, issuedAt: now }, kept);
    await ctx.api.putDeviceList(user, list, undefined, statement);
    // 4. Switch the profile over.
    const ownCertificate = certificates[kept.findIndex((d) => d.deviceId === stored.deviceId)] as Uint8Array;
    const { pendingMasterSeed: _pending, ...rest } = stored;
    const keptIds = new Set(kept.map((d) => d.deviceId));
    const account: AccountRecord = {
      ...rest,
      masterSeed: next.seed,
      masterKey: next.publicKey,
      certificate: ownCertificate,
      companionSeeds: (stored.companionSeeds ?? []).filter((c) => keptIds.has(c.deviceId)),
    };
    tx.set('account', account);
    await pinOwn(ctx, tx, account, list, now);
    // Every session started under the old certificate goes: peers drop theirs when they accept the
    // new key, and the next message starts afresh with the new certificate.
    await dropAllSessions(tx);
    setAccount(ctx, account);
    return { version: own.list.version + 1, kept: [...keptIds], dropped };
  });
}

async function pinOwn(ctx: Context, tx: Transaction, account: AccountRecord, list: Uint8Array, now: number): Promise<void> {
  const contacts = await tx.get('contacts');
  const existing = contacts.contacts.get(account.user);
  const contact: Contact = { masterKey: account.masterKey, verified: true, pinnedAt: now, deviceList: list, keyChange: null, listCheckedAt: now };
  if (existing?.linkApprovedAt !== undefined) contact.linkApprovedAt = existing.linkApprovedAt;
  contacts.contacts.set(account.user, contact);
  tx.set('contacts', contacts);
  ctx.directory.set(account.user, { at: now, masterKey: account.masterKey, list });
}

/**
 * Our user is served under `servedKey` with rotation statement `statement`: follow it if it comes
 * from the master key this device trusts (see the module comment). Returns the updated account;
 * UnknownSignerError if the statement does not chain from our key to the served one, RevokedError
 * if it carries no certificate for this device's keys.
 */
export async function followRotation(ctx: Context, tx: Transaction, statement: Uint8Array, servedKey: Uint8Array): Promise<AccountRecord> {
  const a = ctx.account;
  const r = await verifyMasterKeyRotation(ctx.p, statement, { user: a.user, masterKey: a.masterKey });
  if (!equal(r.newMasterKey, servedKey)) {
    throw new UnknownSignerError('our master key changed more than once since this device last looked: link this device again');
  }
  const i = r.certificates.findIndex((c) => c.deviceId === a.deviceId && equal(c.signingKey, a.signingKey) && equal(c.identityKey, a.identityPublic));
  if (i < 0) throw new RevokedError();
  const stored = await tx.get('account');
  const { masterSeed: _old, pendingMasterSeed: pending, companionSeeds, ...rest } = stored;
  let account: AccountRecord = { ...rest, masterKey: r.newMasterKey, certificate: r.certificateBytes[i] as Uint8Array };
  if (pending && equal(await ctx.p.ed25519PublicKey(pending), r.newMasterKey)) {
    // This primary's own rotation, published before a crash kept it from switching over.
    account = { ...account, masterSeed: pending, ...(companionSeeds ? { companionSeeds } : {}) };
  }
  // Otherwise a copy of the old seed (a device linked before custody) is worthless now: erased.
  tx.set('account', account);
  // As on the primary: sessions started under the old certificate are dropped.
  await dropAllSessions(tx);
  setAccount(ctx, account);
  return account;
}
