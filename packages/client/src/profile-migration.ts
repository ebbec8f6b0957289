/**
 * Opening a profile written before sessions were bound to users and devices (protocol 2,
 * docs/PROTOCOL.md §4, §6, §7; docs/DECISIONS.md 2026-12-03). Recognised by its device
 * certificate of format 1. In one transaction, locally:
 * - the certificate is issued again in format 2 (profiles of protocol 1 all hold the master seed:
 *   companions without it only exist since custody, with format-2 certificates);
 * - every session is dropped: its keys were derived without the identity binding, and a peer
 *   that updated has dropped its side too; the next message starts a bound session;
 * - the signed and ML-KEM prekeys, signed under the v1 labels, are replaced (prekeys.ts
 *   `migratePreKeys`; uploaded by the next rotation and top-up).
 * What needs the relay happens at the next send, receive or listen: the pending prekeys are
 * uploaded and our device list is re-signed in format 3 with this device's proof of possession
 * (own-list.ts).
 */
import { DEVICE_CERTIFICATE_VERSION, issueDeviceCertificate, type Primitives } from '@blindrelay/protocol';
import { masterSigner } from './custody.js';
import { deviceKeysOf, migratePreKeys, pruneBaseKeys } from './prekeys.js';
import type { AccountRecord, Profile } from './profile.js';
import { dropAllSessions } from './sessions.js';

/** True when the profile's account predates protocol 2. */
export const needsMigration = (a: AccountRecord): boolean => a.certificate[0] !== DEVICE_CERTIFICATE_VERSION;

/** Migrate the profile if it needs it; returns the (possibly updated) account and whether it did. */
export async function migrateProfile(p: Primitives, profile: Profile, now: number): Promise<{ account: AccountRecord; migrated: boolean }> {
  return profile.transact(async (tx) => {
    const a = await tx.get('account');
    if (!needsMigration(a)) return { account: a, migrated: false };
    const device = deviceKeysOf(a);
    const certificate = await issueDeviceCertificate(p, a.user, masterSigner(a, 'migrating a protocol-1 profile'), device);
    const account = { ...a, certificate };
    tx.set('account', account);
    await dropAllSessions(tx);
    const prekeys = await tx.get('prekeys');
    await migratePreKeys(p, a.user, device, prekeys, now);
    tx.set('prekeys', prekeys);
    const basekeys = await tx.get('basekeys');
    if (pruneBaseKeys(basekeys, prekeys)) tx.set('basekeys', basekeys);
    return { account, migrated: true };
  });
}
