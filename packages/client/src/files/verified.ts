/**
 * What this device trusts of a stored file (docs/PROTOCOL.md §15.3–15.4), and how a file is
 * described to the caller. Everything comes from the relay and is checked against the owner's
 * trusted master key before it is used:
 * - the metadata and the reader list, signed by the owner for this file id, this header and this
 *   file key (format 2), or, for a file stored before 2026-12-03, the reader list alone (format 1);
 * - the payload digest the owner sealed for this file id, version, size and file key (format 2,
 *   complete versions): a download compares it with the payload before the plaintext is kept.
 */
import {
  DecodeError,
  type FileAccessBinding,
  parseHeader,
  SignatureError,
  verifyAnyFileSeal,
  verifyDeviceFileAccess,
  verifyFileAccess,
  verifyLegacyFileAccess,
  wipe,
} from '@blindrelay/protocol';
import type { RelayFile } from '../api.js';
import { fromBase64url } from '../base64url.js';
import type { Context } from '../context.js';
import { FileAccessError, FileCorruptError, FileSignatureError, KeyChangedError } from '../errors.js';
import { type FileMeta, openFileMeta, type SealedMeta } from '../file-meta.js';
import { fileKeyOf, ownerDeviceKeys, ownerMasterKey } from './access.js';
import type { FileSummary } from './types.js';

/** A file's verified metadata and reader list, and the payload digest its owner sealed. */
export interface Verified extends SealedMeta {
  /**
   * The payload digest the owner sealed (format 2, complete version); null for a file stored before
   * 2026-12-03 (format 1: its contents are not signed) and for a version not complete yet.
   */
  readonly digest: Uint8Array | null;
}

/** What a format-2 reader list is bound to: the file id, the header MAC and the metadata. */
export function accessBinding(fileId: string, header: Uint8Array, meta: FileMeta): FileAccessBinding {
  return {
    fileId: fromBase64url(fileId),
    headerMac: parseHeader(header).mac,
    name: meta.name,
    size: meta.size,
    ...(meta.mtimeMs !== undefined ? { mtimeMs: meta.mtimeMs } : {}),
  };
}

/** The owner-signed metadata and reader list of `header` + `meta` (the current or the pending version of `file`). */
async function openSigned(ctx: Context, file: RelayFile, header: Uint8Array, meta: Uint8Array, fileKey: Uint8Array, cache?: Map<string, Uint8Array>) {
  const sealed = await openFileMeta(ctx.p, fileKey, meta);
  if (sealed.access.owner !== file.owner) {
    throw new FileCorruptError(`file ${file.id}: its metadata names another owner than the relay does`);
  }
  const masterKey = await ownerMasterKey(ctx, file.owner, cache);
  const deviceKeys = () => ownerDeviceKeys(ctx, file.owner);
  try {
    if (sealed.format === 3) await verifyDeviceFileAccess(ctx.p, await deviceKeys(), fileKey, sealed.access, accessBinding(file.id, header, sealed.meta));
    else if (sealed.format === 2) await verifyFileAccess(ctx.p, masterKey, fileKey, sealed.access, accessBinding(file.id, header, sealed.meta));
    else await verifyLegacyFileAccess(ctx.p, masterKey, fileKey, sealed.access);
  } catch (e) {
    throw new FileSignatureError(
      `file ${file.id}: its metadata and reader list are not what ${file.owner} signed for this file (moved from another file, re-sealed by a reader, or signed by a device ${file.owner} no longer lists)`,
      { cause: e },
    );
  }
  // A header with a stanza for us is not enough: the owner must have named us (a relay and a
  // reader cannot slip a file into someone's list).
  if (file.owner !== ctx.account.user && !sealed.access.readers.includes(ctx.account.user)) {
    throw new FileSignatureError(`file ${file.id}: ${file.owner} did not share it with you`);
  }
  return { sealed, masterKey, deviceKeys };
}

/** The file's current version: its metadata and reader list verified, and its owner's seal (format 2, once complete). */
export async function openVerified(ctx: Context, file: RelayFile, fileKey: Uint8Array, cache?: Map<string, Uint8Array>): Promise<Verified> {
  const { sealed, masterKey, deviceKeys } = await openSigned(ctx, file, file.header, file.meta, fileKey, cache);
  if (sealed.format === 1 || !file.complete) return { ...sealed, digest: null };
  // Signed metadata promises a sealed payload: a version without its seal is refused, never shown as unsigned.
  if (!file.seal) throw new FileSignatureError(`file ${file.id}: the relay serves it without its owner's seal`);
  try {
    const digest = await verifyAnyFileSeal(
      ctx.p,
      { masterKey, deviceKeys: file.seal[0] === 1 ? [] : await deviceKeys() },
      fileKey,
      { fileId: fromBase64url(file.id), version: file.version, payloadSize: file.payloadSize },
      file.seal,
    );
    return { ...sealed, digest };
  } catch (e) {
    if (!(e instanceof SignatureError || e instanceof DecodeError)) throw e;
    throw new FileSignatureError(`file ${file.id}: its contents are not sealed by ${file.owner} for this version`, { cause: e });
  }
}

/**
 * The reader list the owner signed for the file's pending version (a revocation still uploading,
 * perhaps from another device): null when there is none; FileAccessError/FileSignatureError when
 * this device cannot open or verify it.
 */
export async function pendingReaders(ctx: Context, file: RelayFile): Promise<readonly string[] | null> {
  const pending = file.pending;
  if (!pending) return null;
  if (!pending.header || !pending.meta) throw new FileAccessError(`file ${file.id}: the relay does not show the new version a revocation is uploading`);
  const fileKey = await fileKeyOf(ctx, { ...file, header: pending.header });
  try {
    const { sealed } = await openSigned(ctx, file, pending.header, pending.meta, fileKey);
    if (sealed.format === 1) throw new FileSignatureError(`file ${file.id}: the new version a revocation is uploading has an unsigned reader list`);
    return sealed.access.readers;
  } finally {
    wipe(fileKey);
  }
}

export function summary(file: RelayFile, verified: Verified | null, problem: 'no-key' | 'corrupt' | 'unverified' = 'no-key'): FileSummary {
  const upload = file.pending ?? (file.complete ? undefined : { received: file.received, payloadSize: file.payloadSize });
  return {
    id: file.id,
    owner: file.owner,
    // The owner-signed list once verified; unknown otherwise (the relay's list is not shown as fact).
    readers: [...(verified?.access.readers ?? [])],
    name: verified?.meta.name ?? null,
    size: verified?.meta.size ?? null,
    version: file.version,
    revision: file.revision,
    complete: file.complete,
    access: verified ? 'ok' : problem,
    contents: !verified || !file.complete ? null : verified.digest ? 'signed' : 'unsigned',
    createdAt: file.createdAt,
    updatedAt: file.updatedAt,
    ...(upload ? { upload: { received: upload.received, payloadSize: upload.payloadSize } } : {}),
  };
}

export async function describe(ctx: Context, file: RelayFile, cache?: Map<string, Uint8Array>): Promise<FileSummary> {
  let fileKey: Uint8Array;
  try {
    fileKey = await fileKeyOf(ctx, file);
  } catch (e) {
    if (e instanceof FileAccessError) return summary(file, null, 'no-key');
    if (e instanceof FileCorruptError) return summary(file, null, 'corrupt');
    throw e;
  }
  try {
    return summary(file, await openVerified(ctx, file, fileKey, cache));
  } catch (e) {
    // One bad file (a sharer's garbage, a relay's substitution) never hides the others.
    if (e instanceof FileCorruptError || e instanceof FileSignatureError) return summary(file, null, 'corrupt');
    if (e instanceof KeyChangedError) return summary(file, null, 'unverified');
    throw e;
  } finally {
    wipe(fileKey);
  }
}
