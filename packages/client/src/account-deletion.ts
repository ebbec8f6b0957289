/**
 * Account deletion (docs/API.md §1a, PROTOCOL.md §17): the primary device asks the relay to
 * destroy everything it holds for the user, then erases this profile.
 *
 * 1. The relay's current device list for us is fetched; it must be under our master key (else
 *    the relay is answering for someone else and nothing is signed).
 * 2. The master key signs the deletion statement (user, time, nonce, SHA-256 of that list); it
 *    goes in a request signed with the device key. A relay that says our clock is off (or that
 *    the list changed meanwhile) gets one more statement, signed afresh.
 * 3. Once the relay confirms (204), or answers that the account no longer exists (a retry after
 *    a lost answer), the profile directory is erased: every file zeroed and unlinked (keys, vault
 *    header, sessions, messages), then the directory.
 *
 * Only a device holding the master key can do this (NotPrimaryError otherwise): a
 * companion device, or a thief of a companion or of a token, cannot delete the account.
 */
import { deviceListDigest, equal, signAccountDeletion } from '@blindrelay/protocol';
import type { Context } from './context.js';
import { ConflictError, InvalidArgumentError, NoSuchUserError, NotPrimaryError, RequestSignatureError } from './errors.js';
import type { ProfileStorage } from './storage/types.js';

export interface AccountDeletionResult {
  readonly user: string;
  /** False when the relay had already deleted the account (an earlier attempt whose answer was lost). */
  readonly deletedOnRelay: boolean;
  /** Where the erased profile was. */
  readonly profile: string;
}

async function requestDeletion(ctx: Context, masterSeed: Uint8Array, timestamp: number): Promise<void> {
  const { user } = ctx.account;
  const current = await ctx.api.getUser(user);
  if (current.user !== user || !equal(current.masterKey, ctx.account.masterKey)) {
    throw new InvalidArgumentError(`the relay serves another master key for ${user}: nothing was deleted`);
  }
  const statement = { user, timestamp, nonce: ctx.p.randomBytes(16), listDigest: await deviceListDigest(ctx.p, current.deviceList) };
  const signature = await signAccountDeletion(ctx.p, masterSeed, statement);
  await ctx.api.deleteAccount({ ...statement, signature });
}

/** Steps 1-3 above; `storage` is this profile's storage (erased at the end). */
export async function deleteAccount(ctx: Context, storage: ProfileStorage): Promise<AccountDeletionResult> {
  const masterSeed = ctx.account.masterSeed as Uint8Array | undefined;
  if (!(masterSeed instanceof Uint8Array) || masterSeed.length !== 32) throw new NotPrimaryError('deleting the account');
  let deletedOnRelay = true;
  try {
    try {
      await requestDeletion(ctx, masterSeed, ctx.now());
    } catch (e) {
      // Our clock is off (sign again in the relay's time), or the list changed under us: once more.
      if (e instanceof RequestSignatureError && e.relayCode === 'stale_signature' && e.serverTime !== undefined)
        await requestDeletion(ctx, masterSeed, e.serverTime);
      else if (e instanceof ConflictError && e.relayCode === 'conflict') await requestDeletion(ctx, masterSeed, ctx.now());
      else throw e;
    }
  } catch (e) {
    // Already gone (our earlier request went through but its answer was lost): erase locally all the same.
    if (!(e instanceof NoSuchUserError)) throw e;
    deletedOnRelay = false;
  }
  ctx.profile.close();
  await storage.erase();
  return { user: ctx.account.user, deletedOnRelay, profile: storage.location };
}
