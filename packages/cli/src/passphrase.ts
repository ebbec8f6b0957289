/**
 * The profile passphrase ($BLINDRELAY_PASSPHRASE) as the CLI uses it (review ux-2026-12 F9):
 * - it applies per profile: an encrypted profile needs it; an unencrypted one opens without it,
 *   even when it is exported in the shell (a note says it was not used);
 * - a new profile is encrypted only with a passphrase of at least MIN_BACKUP_PASSPHRASE (10)
 *   characters, the backup passphrase's minimum: a shorter one is refused before anything is made.
 */
import type { BlindrelayClient, ClientEnvironment } from '@blindrelay/client';
import { ClientError, InvalidArgumentError } from '@blindrelay/client/errors';
import { loadClient } from './sdk.js';

/** The backup passphrase's minimum (`MIN_BACKUP_PASSPHRASE` of the SDK; not imported: that loads the SDK for `--help`). */
export const MIN_PROFILE_PASSPHRASE = 10;

/** Help text shared by every command that opens or creates a profile. */
export const PASSPHRASE_HELP = `
Profile passphrase:
  BLINDRELAY_PASSPHRASE   the passphrase of an encrypted profile. When set as a profile is created
                          (account create, device link, backup restore), the profile's private keys
                          are encrypted with it (Argon2id); at least ${MIN_PROFILE_PASSPHRASE} characters. A profile
                          created without it is not encrypted and ignores it.`;

/** Refuse a passphrase too short to encrypt a new profile with (nothing is created). */
export function checkNewProfilePassphrase(passphrase: string | undefined): void {
  if (passphrase === undefined) return;
  if (passphrase.normalize('NFC').length < MIN_PROFILE_PASSPHRASE) {
    throw new InvalidArgumentError(
      `BLINDRELAY_PASSPHRASE is too short to encrypt a profile: use at least ${MIN_PROFILE_PASSPHRASE} characters (several random words); nothing was created`,
    );
  }
}

/** Open the profile; an unencrypted one ignores an exported passphrase (with a note). */
export async function openProfile(env: ClientEnvironment, note: (text: string) => void): Promise<BlindrelayClient> {
  const { BlindrelayClient } = await loadClient();
  try {
    return await BlindrelayClient.open(env);
  } catch (e) {
    if (!(e instanceof ClientError && e.code === 'ERR_PASSPHRASE_UNEXPECTED') || env.passphrase === undefined) throw e;
    note('note: this profile is not encrypted: BLINDRELAY_PASSPHRASE is not used for it');
    return BlindrelayClient.open({ ...env, passphrase: undefined });
  }
}
