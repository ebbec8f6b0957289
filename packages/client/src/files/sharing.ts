/**
 * Listing, sharing and revoking encrypted files (docs/PROTOCOL.md §15, docs/API.md §8).
 *
 * Share: a new header for the same file key (owner's and readers' current devices plus the new
 * user's), payload untouched. Re-wrap: the same without changing readers (new devices of
 * authorised users). Revoke: a new file key and nonce, the current version decrypted and
 * re-encrypted as a new version for the remaining users; the relay deletes the old payload once
 * the new one is complete (cryptographic erasure) and cuts the revoked reader off at once. Re-key:
 * the same, removing nobody (signs a file stored before 2026-12-03).
 *
 * A revocation is never left half done (review L2): this device's unfinished one is finished
 * before anything else changes the file, and restarted under a fresh key when it cannot be resumed
 * (the relay dropped its new version, served other bytes, or reports less than it acknowledged).
 * While one is pending, a share or re-wrap is refused (by the relay: 409 `revocation_pending`, and
 * here), and a revocation from another device builds on the reader list the pending version's owner
 * signed, so no device gives a revoked reader access again.
 */
import { generateFileKey, PAYLOAD_NONCE_BYTES, payloadSize, rewrapHeader, signDeviceFileAccess, signLegacyFileAccess, wipe } from '@blindrelay/protocol';
import type { RelayFile } from '../api.js';
import type { Context } from '../context.js';
import { masterSigner } from '../custody.js';
import {
  ConflictError,
  FileOwnerOnlyError,
  FileSignatureError,
  InvalidArgumentError,
  RelayError,
  RevocationPendingError,
  SourceChangedError,
  UploadLostError,
} from '../errors.js';
import { normalizeMeta, sealFileMeta } from '../file-meta.js';
import type { PendingUpload } from '../profile.js';
import { checkUsers, fileKeyOf, type Recipients, recipientsOf } from './access.js';
import { previousPlaintext } from './download.js';
import type { FileSummary, ProgressListener } from './types.js';
import { forgetUpload, initialDigest, pendingUploads, rememberUpload, runUpload } from './upload.js';
import { accessBinding, describe, openVerified, pendingReaders, summary } from './verified.js';

export interface ReencryptOptions {
  onProgress?: ProgressListener;
  acceptNewKey?: boolean;
  signal?: AbortSignal;
}

export async function listFiles(ctx: Context): Promise<FileSummary[]> {
  const files = await ctx.api.listFiles();
  const out: FileSummary[] = [];
  const owners = new Map<string, Uint8Array>();
  for (const f of files) out.push(await describe(ctx, f, owners));
  return out;
}

export async function statFile(ctx: Context, id: string): Promise<FileSummary> {
  return describe(ctx, await ctx.api.getFile(id));
}

async function ownedFile(ctx: Context, id: string): Promise<RelayFile> {
  const file = await ctx.api.getFile(id);
  if (file.owner !== ctx.account.user) throw new FileOwnerOnlyError(id, file.owner);
  if (!file.complete) throw new InvalidArgumentError(`file ${id} is still being uploaded: finish the upload first (run the same \`file put\` again)`);
  return file;
}

/**
 * New header for the same file key: current devices of the owner and of the readers `change`
 * makes of the reader list we signed (never the relay's list). Payload untouched. Refused while a
 * revocation of the file is unfinished (its own, if this device started it, is finished first).
 */
async function rewrapTo(
  ctx: Context,
  id: string,
  change: (signed: readonly string[]) => string[],
  options: ReencryptOptions,
): Promise<{ file: FileSummary; skipped: Recipients['skipped'] }> {
  await finishRevocation(ctx, id, options);
  const file = await ownedFile(ctx, id);
  if (file.pending) {
    throw new RevocationPendingError(
      `file ${id}: a revocation started on another device is still uploading its new version; wait until it completes, or run \`blindrelay file revoke ${id} USER\` here to take it over`,
    );
  }
  const fileKey = await fileKeyOf(ctx, file);
  try {
    const verified = await openVerified(ctx, file, fileKey);
    // Readers we signed for whom the relay no longer grants access: a revocation whose new version
    // never completed (started on another device, then pruned). Re-wrapping from this list would
    // give them access again: that revocation must be finished first.
    const stalled = verified.access.readers.filter((r) => !file.readers.includes(r));
    if (stalled.length > 0) {
      throw new RevocationPendingError(
        `file ${id}: a revocation of ${stalled.join(', ')} did not finish (the relay no longer lets them read it, but the stored copy is still under their key): run \`blindrelay file revoke ${id} ${stalled[0]}\` to finish it`,
      );
    }
    const readers = change(verified.access.readers);
    const { recipients, skipped } = await recipientsOf(ctx, readers, options.acceptNewKey ?? false);
    const header = await rewrapHeader(ctx.p, fileKey, recipients);
    const meta = normalizeMeta(verified.meta);
    // A file stored before 2026-12-03 keeps its format until it is re-encrypted (it has no seal):
    // its list is signed by the master key (primary only). Others are signed by this device
    // (format 3, custody PROTOCOL.md §16.2).
    const access =
      verified.format === 1
        ? await signLegacyFileAccess(
            ctx.p,
            masterSigner(ctx.account, 'sharing or re-wrapping a file stored before 2026-12-03 (re-key it first)').seed,
            fileKey,
            ctx.account.user,
            readers,
          )
        : await signDeviceFileAccess(ctx.p, ctx.account.signingSeed, fileKey, ctx.account.user, readers, accessBinding(id, header, meta));
    const sealedMeta = await sealFileMeta(ctx.p, fileKey, meta, access, verified.format === 1 ? 1 : 3);
    try {
      await ctx.api.replaceFileHeader(file.id, { expectedRevision: file.revision, header, meta: sealedMeta, readers: access.readers });
    } catch (e) {
      if (e instanceof ConflictError && e.relayCode === 'revocation_pending') {
        throw new RevocationPendingError(`file ${id}: a revocation started meanwhile; share or re-wrap once it completed`);
      }
      throw e;
    }
    return { file: await describe(ctx, await ctx.api.getFile(file.id)), skipped };
  } finally {
    wipe(fileKey);
  }
}

/** Give `user` (all their current devices) access to the file. */
export async function shareFile(ctx: Context, id: string, user: string, options: ReencryptOptions = {}) {
  const [who] = checkUsers([user], ctx.account.user);
  if (!who) throw new InvalidArgumentError('you already own this file');
  return rewrapTo(ctx, id, (signed) => [...new Set([...signed, who])], options);
}

/** Re-wrap the file key for the current devices of the owner and every reader (devices linked since). */
export async function rewrapFile(ctx: Context, id: string, options: ReencryptOptions = {}) {
  return rewrapTo(ctx, id, (signed) => [...signed], options);
}

/** Errors after which an unfinished revocation cannot be resumed, only restarted under a fresh key. */
function mustRestart(e: unknown): boolean {
  return (
    // The relay no longer has the new version (pruned after a day, dropped at will, replaced).
    e instanceof UploadLostError ||
    // The relay served other bytes, or reports less than it acknowledged.
    e instanceof SourceChangedError ||
    (e instanceof RelayError && e.relayCode === 'bad_response')
  );
}

/**
 * Run a revocation's upload. When the version it re-encrypts turns out not to be the one its owner
 * sealed (FileSignatureError: replaced by someone who holds the old key), the parts already sent
 * hold that content: the upload is dropped from the profile, never to be resumed and sealed, and
 * its new version stays incomplete (replaced by the next revocation, or pruned).
 */
async function runRevocation(ctx: Context, up: PendingUpload, options: ReencryptOptions): Promise<void> {
  try {
    await runUpload(ctx, up, (at) => previousPlaintext(ctx, up, at), options.onProgress, options.signal);
  } catch (e) {
    if (e instanceof FileSignatureError) await forgetUpload(ctx, up.fileId);
    throw e;
  }
}

/**
 * Finish this device's unfinished revocation of `id`, if there is one: resume it, or restart it
 * under a fresh key (keeping the readers it kept) when it cannot be resumed. True if there was one.
 */
async function finishRevocation(ctx: Context, id: string, options: ReencryptOptions): Promise<boolean> {
  const unfinished = (await pendingUploads(ctx)).find((u) => u.kind === 'revoke' && u.fileId === id);
  if (!unfinished) return false;
  // One started before seals existed cannot be sealed: restart it.
  let restart = !unfinished.digest;
  if (!restart) {
    try {
      await runRevocation(ctx, unfinished, options);
    } catch (e) {
      if (!mustRestart(e)) throw e;
      restart = true;
    }
  }
  if (restart) await reencrypt(ctx, id, { ...options, keep: unfinished.readers ?? null });
  else await forgetUpload(ctx, id);
  return true;
}

/**
 * Re-encrypt the current version under a new file key and nonce, as a new version for the readers
 * the owner signed, minus `remove`; `keep`: only those of them (a restarted revocation's readers;
 * null: those the relay still grants access, for a revocation recorded without its reader list).
 * A pending version from another device's revocation is replaced, and its signed reader list
 * bounds the new one (a reader it removed does not come back).
 */
async function reencrypt(ctx: Context, id: string, o: ReencryptOptions & { remove?: string; keep?: readonly string[] | null }) {
  const file = await ownedFile(ctx, id);
  const previousFileKey = await fileKeyOf(ctx, file);
  const verified = await openVerified(ctx, file, previousFileKey);
  let base = [...verified.access.readers];
  if (o.remove !== undefined && o.keep === undefined && !base.includes(o.remove) && !file.pending) {
    throw new InvalidArgumentError(`${o.remove} is not a reader of file ${id}`);
  }
  if (file.pending) {
    const pending = (await pendingReaders(ctx, file)) ?? [];
    base = base.filter((r) => pending.includes(r));
  }
  if (o.keep !== undefined) {
    const keep = o.keep ?? file.readers;
    base = base.filter((r) => keep.includes(r));
  }
  if (o.remove !== undefined) base = base.filter((r) => r !== o.remove);
  const { recipients, skipped } = await recipientsOf(ctx, base, o.acceptNewKey ?? false);
  const fileKey = generateFileKey(ctx.p);
  const nonce = ctx.p.randomBytes(PAYLOAD_NONCE_BYTES);
  const header = await rewrapHeader(ctx.p, fileKey, recipients);
  const meta = normalizeMeta(verified.meta);
  const access = await signDeviceFileAccess(ctx.p, ctx.account.signingSeed, fileKey, ctx.account.user, base, accessBinding(id, header, meta));
  const newMeta = await sealFileMeta(ctx.p, fileKey, meta, access);
  const size = payloadSize(meta.size);
  const created = await ctx.api.createFileVersion(id, { expectedRevision: file.revision, header, meta: newMeta, payloadSize: size, readers: access.readers });
  const up: PendingUpload = {
    fileId: id,
    version: created.version,
    kind: 'revoke',
    fileKey,
    nonce,
    payloadSize: size,
    size: meta.size,
    source: `relay:${id}`,
    mtimeMs: meta.mtimeMs ?? 0,
    previousFileKey,
    previousVersion: file.version,
    readers: access.readers,
    startedAt: ctx.now(),
    digest: await initialDigest(ctx, nonce),
  };
  await rememberUpload(ctx, up);
  await runRevocation(ctx, up, o);
  await forgetUpload(ctx, id);
  return { file: await describe(ctx, await ctx.api.getFile(id)), skipped };
}

/**
 * Take `user`'s access away: they leave the reader list at once, and the file is re-encrypted
 * under a new file key for everyone else; the relay deletes the old payload when the new one is
 * complete. What they downloaded before stays theirs.
 */
export async function revokeFile(ctx: Context, id: string, user: string, options: ReencryptOptions = {}) {
  if (await finishRevocation(ctx, id, options)) {
    // That revocation may have been of `user`: the signed list of the new version says.
    const done = await ctx.api.getFile(id);
    const key = await fileKeyOf(ctx, done);
    try {
      const verified = await openVerified(ctx, done, key);
      if (!verified.access.readers.includes(user)) return { file: summary(done, verified), skipped: [] };
    } finally {
      wipe(key);
    }
  }
  return reencrypt(ctx, id, { ...options, remove: user });
}

/**
 * Re-encrypt the file under a new key for its current readers (a revocation that removes nobody):
 * signs the contents of a file stored before 2026-12-03; after a device was removed, the stored
 * copy no longer opens with that device's file key.
 */
export async function rekeyFile(ctx: Context, id: string, options: ReencryptOptions = {}) {
  await finishRevocation(ctx, id, options);
  return reencrypt(ctx, id, options);
}

/**
 * Finish the unfinished revocations of this device (their source is the relay itself), restarting
 * under a fresh key those that cannot be resumed. Returns the ids of the files finished.
 */
export async function resumeRevocations(ctx: Context, onProgress?: ProgressListener): Promise<string[]> {
  const done: string[] = [];
  for (const up of await pendingUploads(ctx)) {
    if (up.kind !== 'revoke') continue;
    await finishRevocation(ctx, up.fileId, onProgress ? { onProgress } : {});
    done.push(up.fileId);
  }
  return done;
}

export async function removeFile(ctx: Context, id: string): Promise<void> {
  const file = await ctx.api.getFile(id);
  if (file.owner !== ctx.account.user) throw new FileOwnerOnlyError(id, file.owner);
  await ctx.api.deleteFile(id);
  await forgetUpload(ctx, id);
}
