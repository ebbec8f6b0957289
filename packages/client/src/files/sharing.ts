/**
 * Listing, sharing and revoking encrypted files (docs/PROTOCOL.md §15, docs/API.md §8).
 *
 * Share: a new header for the same file key (owner's and readers' current devices plus the new
 * user's), payload untouched. Re-wrap: the same without changing readers (new devices of
 * authorised users). Revoke: a new file key and nonce, the current version decrypted and
 * re-encrypted as a new version for the remaining users; the relay deletes the old payload once
 * the new one is complete (cryptographic erasure) and cuts the revoked reader off at once.
 */
import { generateFileKey, PAYLOAD_NONCE_BYTES, payloadSize, rewrapHeader, signFileAccess, wipe } from '@blindrelay/protocol';
import type { RelayFile } from '../api.js';
import type { Context } from '../context.js';
import { FileOwnerOnlyError, InvalidArgumentError, RelayError, SourceChangedError } from '../errors.js';
import { sealFileMeta } from '../file-meta.js';
import type { PendingUpload } from '../profile.js';
import { checkUsers, describe, fileKeyOf, openVerified, type Recipients, recipientsOf, summary } from './access.js';
import { previousPlaintext } from './download.js';
import type { FileSummary, ProgressListener } from './types.js';
import { forgetUpload, pendingUploads, rememberUpload, runUpload } from './upload.js';

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
 * makes of the reader list we signed (never the relay's list). Payload untouched.
 */
async function rewrapTo(
  ctx: Context,
  file: RelayFile,
  change: (signed: readonly string[]) => string[],
  acceptNewKey: boolean,
): Promise<{ file: FileSummary; skipped: Recipients['skipped'] }> {
  const fileKey = await fileKeyOf(ctx, file);
  try {
    const sealed = await openVerified(ctx, file, fileKey);
    const access = await signFileAccess(ctx.p, ctx.account.masterSeed, fileKey, ctx.account.user, change(sealed.access.readers));
    const { recipients, skipped } = await recipientsOf(ctx, access.readers, acceptNewKey);
    const header = await rewrapHeader(ctx.p, fileKey, recipients);
    const meta = await sealFileMeta(ctx.p, fileKey, sealed.meta, access);
    await ctx.api.replaceFileHeader(file.id, { expectedRevision: file.revision, header, meta, readers: access.readers });
    return { file: await describe(ctx, await ctx.api.getFile(file.id)), skipped };
  } finally {
    wipe(fileKey);
  }
}

/** Give `user` (all their current devices) access to the file. */
export async function shareFile(ctx: Context, id: string, user: string, options: { acceptNewKey?: boolean } = {}) {
  const [who] = checkUsers([user], ctx.account.user);
  if (!who) throw new InvalidArgumentError('you already own this file');
  const file = await ownedFile(ctx, id);
  return rewrapTo(ctx, file, (signed) => [...new Set([...signed, who])], options.acceptNewKey ?? false);
}

/** Re-wrap the file key for the current devices of the owner and every reader (devices linked since). */
export async function rewrapFile(ctx: Context, id: string, options: { acceptNewKey?: boolean } = {}) {
  const file = await ownedFile(ctx, id);
  return rewrapTo(ctx, file, (signed) => [...signed], options.acceptNewKey ?? false);
}

/**
 * Take `user`'s access away: they leave the reader list at once, and the file is re-encrypted
 * under a new file key for everyone else; the relay deletes the old payload when the new one is
 * complete. What they downloaded before stays theirs.
 */
export async function revokeFile(
  ctx: Context,
  id: string,
  user: string,
  options: { onProgress?: ProgressListener; acceptNewKey?: boolean; signal?: AbortSignal } = {},
) {
  // An interrupted revocation of this file (by this device) is finished first.
  const unfinished = (await pendingUploads(ctx)).find((u) => u.kind === 'revoke' && u.fileId === id);
  /** Readers an unfinished revocation kept, when it has to start afresh. */
  let restart: readonly string[] | undefined;
  if (unfinished) {
    try {
      await runUpload(ctx, unfinished, (at) => previousPlaintext(ctx, unfinished, at), options.onProgress, options.signal);
    } catch (e) {
      // The relay served other bytes, or reports less than it acknowledged: that re-encryption
      // cannot be resumed safely. It starts again under a fresh key, keeping the readers it kept.
      const unsafe = e instanceof SourceChangedError || (e instanceof RelayError && e.relayCode === 'bad_response');
      if (!unsafe || !unfinished.readers) throw e;
      restart = unfinished.readers;
    }
    await forgetUpload(ctx, id);
    if (!restart) {
      // That revocation may have been of `user`: the signed list of the new version says.
      const done = await ctx.api.getFile(id);
      const key = await fileKeyOf(ctx, done);
      try {
        const sealed = await openVerified(ctx, done, key);
        if (!sealed.access.readers.includes(user)) return { file: summary(done, sealed), skipped: [] };
      } finally {
        wipe(key);
      }
    }
  }
  const file = await ownedFile(ctx, id);
  const previousFileKey = await fileKeyOf(ctx, file);
  const sealed = await openVerified(ctx, file, previousFileKey);
  const meta = sealed.meta;
  const base = restart ?? sealed.access.readers;
  if (!restart && !base.includes(user)) throw new InvalidArgumentError(`${user} is not a reader of file ${id}`);
  const fileKey = generateFileKey(ctx.p);
  const access = await signFileAccess(
    ctx.p,
    ctx.account.masterSeed,
    fileKey,
    ctx.account.user,
    base.filter((r) => r !== user),
  );
  const { recipients, skipped } = await recipientsOf(ctx, access.readers, options.acceptNewKey ?? false);
  const nonce = ctx.p.randomBytes(PAYLOAD_NONCE_BYTES);
  const header = await rewrapHeader(ctx.p, fileKey, recipients);
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
  };
  await rememberUpload(ctx, up);
  await runUpload(ctx, up, (at) => previousPlaintext(ctx, up, at), options.onProgress, options.signal);
  await forgetUpload(ctx, id);
  return { file: await describe(ctx, await ctx.api.getFile(id)), skipped };
}

/** Continue the unfinished revocation re-encryptions of this device (their source is the relay itself). */
export async function resumeRevocations(ctx: Context, onProgress?: ProgressListener): Promise<string[]> {
  const done: string[] = [];
  for (const up of await pendingUploads(ctx)) {
    if (up.kind !== 'revoke') continue;
    await runUpload(ctx, up, (at) => previousPlaintext(ctx, up, at), onProgress);
    await forgetUpload(ctx, up.fileId);
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
