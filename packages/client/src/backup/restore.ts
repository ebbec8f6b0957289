/**
 * Restoring an account from its encrypted backup on a device with nothing else (docs/RECOVERY.md):
 * the recovery code (checked locally first: a typo never reaches the relay) or the passphrase
 * (OPAQUE login, counted by the relay) releases the blob; the backup key is unwrapped, the blob
 * opened, and its master seed must be the key of the account the relay serves. The caller
 * (BlindrelayClient.restore) then registers a new device with a device list signed by that master
 * key, exactly as linking a device does, and re-wraps the user's own files for it.
 */
import { type DeviceList, equal, type Primitives, verifyDeviceList } from '@blindrelay/protocol';
import type { RelayApi } from '../api.js';
import { BackupCorruptError, InvalidArgumentError } from '../errors.js';
import { fetchWithCode, fetchWithPassphrase, type ReleasedBackup } from './backup-api.js';
import { type BackupContents, type BackupKind, codeSecrets, openBackup, passphraseWrapKey, unwrapBackupKey } from './backup-format.js';
import { parseRecoveryCode } from './recovery-code.js';

export interface RestoreSecret {
  /** The recovery code as typed (groups, case and look-alikes forgiven). */
  readonly code?: string;
  readonly passphrase?: string;
}

export interface OpenedBackup {
  readonly contents: BackupContents;
  readonly backupKey: Uint8Array;
  readonly kind: BackupKind;
  readonly generation: number;
  readonly master: { readonly seed: Uint8Array; readonly publicKey: Uint8Array };
  /** The user's current device list, verified against the recovered master key. */
  readonly currentList: DeviceList;
}

/** Check the secret's form before anything is sent (RecoveryCodeError for a typo). */
export function checkSecret(secret: RestoreSecret): { code: string } | { passphrase: string } {
  if ((secret.code === undefined) === (secret.passphrase === undefined)) throw new InvalidArgumentError('give either a recovery code or a passphrase');
  if (secret.code !== undefined) return { code: parseRecoveryCode(secret.code) };
  return { passphrase: (secret.passphrase as string).normalize('NFC') };
}

/** Fetch, unwrap and open the backup of `user`; nothing is stored. */
export async function openRemoteBackup(p: Primitives, api: RelayApi, user: string, secret: RestoreSecret): Promise<OpenedBackup> {
  const checked = checkSecret(secret);
  let released: ReleasedBackup;
  let wrapKey: Uint8Array;
  if ('code' in checked) {
    const s = await codeSecrets(p, checked.code, user);
    released = await fetchWithCode(api, user, s.accessSecret);
    wrapKey = s.wrapKey;
  } else {
    const r = await fetchWithPassphrase(api, user, checked.passphrase);
    released = r.backup;
    wrapKey = await passphraseWrapKey(p, r.exportKey, user);
  }
  const kind = 'code' in checked ? 'code' : 'passphrase';
  if (released.kind !== kind) throw new BackupCorruptError(`the relay released a ${released.kind} backup for a ${kind}`);
  const backupKey = await unwrapBackupKey(p, wrapKey, kind, user, released.wrappedKey);
  wrapKey.fill(0);
  const contents = await openBackup(p, backupKey, user, released.blob);
  const publicKey = await p.ed25519PublicKey(contents.masterSeed);
  if (!equal(publicKey, released.masterKey)) {
    throw new BackupCorruptError(
      `this backup's master key is not the one the relay serves for ${user} (the account was replaced, or the relay is lying): nothing was changed`,
    );
  }
  // Freshness is not required here (§5.1): we sign the next version ourselves right away.
  const currentList = await verifyDeviceList(p, released.deviceList, { user, masterKey: publicKey }, { now: null, migration: true });
  return { contents, backupKey, kind, generation: released.generation, master: { seed: contents.masterSeed, publicKey }, currentList };
}
