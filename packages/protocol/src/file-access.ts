/**
 * Who may read a stored file, signed by its owner (docs/PROTOCOL.md §15.3). The relay keeps a
 * reader list for access control, but clients never take it from the relay: the owner's master
 * key signs the list, bound to the file's current file key, and the signature travels inside the
 * file's encrypted metadata. Re-wrapping, sharing and revoking start from the signed list, so a
 * relay cannot slip a reader in; a reader checks the signature against the owner's trusted master
 * key, so a relay cannot present a file as someone else's.
 *
 * Format 2 (written since 2026-12-03) also binds the list to the file id, the header it travels
 * with and the file's metadata, so a relay cannot move a header and metadata to another file of
 * the same owner, and a reader (who holds the file key and can re-seal the metadata) cannot
 * rename or resize a file:
 *
 *     binding   = HKDF-SHA-256(ikm = file key, salt = "", info = "Blindrelay_FileAccess_v2", 32)
 *     body      = binding[32] | fileId[16] | owner | u16 n | n × reader (ascending, distinct, not the owner)
 *                 | headerMac[32] | size u64 | hasMtime u8 | mtimeMs u64 (if hasMtime) | bytes16 name (UTF-8)
 *     signature = Ed25519(owner's master key, "Blindrelay_FileAccess_v2" ‖ 0x00 ‖ body)
 *
 * Format 1 (files stored before 2026-12-03; still verified, and still signed when such a file is
 * shared or re-wrapped, so that it keeps its format until it is re-encrypted):
 *
 *     binding   = HKDF-SHA-256(ikm = file key, salt = "", info = "Blindrelay_FileAccess_v1", 32)
 *     body      = binding[32] | owner | u16 n | n × reader
 *     signature = Ed25519(owner's master key, "Blindrelay_FileAccess_v1" ‖ 0x00 ‖ body)
 *
 * Format 3 (custody, since 2026-12-04; PROTOCOL.md §16.2): the body of format 2 with
 * "Blindrelay_FileAccess_v3" in place of the v2 label (in the binding and the signature), signed by
 * a device of the owner instead of the master key; it verifies only under a device of the owner's
 * current verified device list.
 *
 * The binding ties the list to one file-key epoch: a list signed for another file (or for this
 * file before a revocation changed its key) does not verify. The version number is signed in the
 * version's content seal (file-seal.ts), made when the version is complete, with the same file key.
 */
import { utf8 } from './bytes.js';
import { Writer } from './codec.js';
import { assertUserName } from './encoding.js';
import { InvalidArgumentError } from './errors.js';
import { FILE_ID_BYTES } from './file-seal.js';
import { writeUser } from './identity-codec.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, type SignatureLabel, signWithLabel, verifyByAnyOf, verifyWithLabel } from './signature.js';

/** At most this many readers per file (the relay's limit). */
export const MAX_FILE_READERS = 100;

export interface FileAccess {
  readonly owner: string;
  /** Ascending, distinct, without the owner. */
  readonly readers: readonly string[];
  readonly signature: Uint8Array;
}

/** Readers in their canonical order; refuses duplicates, the owner and bad names. */
export function canonicalReaders(owner: string, readers: readonly string[]): string[] {
  const sorted = [...readers].sort();
  if (sorted.length > MAX_FILE_READERS) throw new InvalidArgumentError(`a file has at most ${MAX_FILE_READERS} readers`);
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i] as string;
    assertUserName(r);
    if (r === owner) throw new InvalidArgumentError('the owner is not a reader');
    if (i > 0 && sorted[i - 1] === r) throw new InvalidArgumentError(`duplicate reader ${r}`);
  }
  return sorted;
}

/** What a format-2 list is bound to besides the file key: the file, its header, its metadata. */
export interface FileAccessBinding {
  /** The relay's 16-byte file id. */
  readonly fileId: Uint8Array;
  /** The age header MAC (age.md "Header MAC") of the header the list travels with. */
  readonly headerMac: Uint8Array;
  /** The file name, size and modification time of the encrypted metadata. */
  readonly name: string;
  readonly size: number;
  readonly mtimeMs?: number;
}

const MAX_NAME_BYTES = 255;

function writeReaders(w: Writer, owner: string, readers: readonly string[]): void {
  writeUser(w, owner);
  w.u16(readers.length);
  for (const r of readers) writeUser(w, r);
}

async function bodyV1(p: Primitives, fileKey: Uint8Array, owner: string, readers: readonly string[]): Promise<Uint8Array> {
  const binding = await p.hkdfSha256(fileKey, new Uint8Array(0), utf8(SIGNATURE_LABELS.fileAccess), 32);
  const w = new Writer(64 + readers.length * 65).fixed(binding, 32);
  writeReaders(w, owner, readers);
  return w.finish();
}

async function bodyV2(
  p: Primitives,
  fileKey: Uint8Array,
  owner: string,
  readers: readonly string[],
  bound: FileAccessBinding,
  label: SignatureLabel = SIGNATURE_LABELS.fileAccessV2,
): Promise<Uint8Array> {
  const name = utf8(bound.name);
  if (name.length === 0 || name.length > MAX_NAME_BYTES) throw new InvalidArgumentError(`a file name is 1 to ${MAX_NAME_BYTES} bytes`);
  if (!Number.isSafeInteger(bound.size) || bound.size < 0) throw new InvalidArgumentError('file size out of range');
  const mtime = bound.mtimeMs;
  if (mtime !== undefined && (!Number.isSafeInteger(mtime) || mtime < 0)) throw new InvalidArgumentError('modification time out of range');
  const binding = await p.hkdfSha256(fileKey, new Uint8Array(0), utf8(label), 32);
  const w = new Writer(128 + readers.length * 65 + name.length).fixed(binding, 32).fixed(bound.fileId, FILE_ID_BYTES);
  writeReaders(w, owner, readers);
  w.fixed(bound.headerMac, 32).u64(bound.size);
  if (mtime === undefined) w.u8(0);
  else w.u8(1).u64(mtime);
  return w.bytes16(name).finish();
}

/**
 * Sign the reader list (format 2) of the file whose key is `fileKey`, bound to `bound` (file id,
 * header MAC, metadata), with the owner's master seed.
 */
export async function signFileAccess(
  p: Primitives,
  masterSeed: Uint8Array,
  fileKey: Uint8Array,
  owner: string,
  readers: readonly string[],
  bound: FileAccessBinding,
): Promise<FileAccess> {
  assertUserName(owner);
  const canonical = canonicalReaders(owner, readers);
  const signature = await signWithLabel(p, masterSeed, SIGNATURE_LABELS.fileAccessV2, await bodyV2(p, fileKey, owner, canonical, bound));
  return { owner, readers: canonical, signature };
}

/**
 * Verify a format-2 reader list against the owner's trusted master key, this file's key and what
 * it is bound to. Throws SignatureError (bad signature, or bound to another file, header or
 * metadata), InvalidArgumentError (a list that is not canonical).
 */
export async function verifyFileAccess(
  p: Primitives,
  ownerMasterKey: Uint8Array,
  fileKey: Uint8Array,
  access: FileAccess,
  bound: FileAccessBinding,
): Promise<void> {
  const canonical = checkCanonical(access);
  await verifyWithLabel(
    p,
    ownerMasterKey,
    SIGNATURE_LABELS.fileAccessV2,
    await bodyV2(p, fileKey, access.owner, canonical, bound),
    access.signature,
    'file reader list',
  );
}

/**
 * Sign a format-3 reader list (custody, docs/PROTOCOL.md §16.2): the body of format 2 under the
 * label Blindrelay_FileAccess_v3 (binding included), signed by the signing key of one of the
 * owner's devices, so a companion without the master key can write files. Readers verify it
 * against the devices of the owner's current verified device list (verifyDeviceFileAccess).
 */
export async function signDeviceFileAccess(
  p: Primitives,
  deviceSigningSeed: Uint8Array,
  fileKey: Uint8Array,
  owner: string,
  readers: readonly string[],
  bound: FileAccessBinding,
): Promise<FileAccess> {
  assertUserName(owner);
  const canonical = canonicalReaders(owner, readers);
  const body = await bodyV2(p, fileKey, owner, canonical, bound, SIGNATURE_LABELS.fileAccessV3);
  const signature = await signWithLabel(p, deviceSigningSeed, SIGNATURE_LABELS.fileAccessV3, body);
  return { owner, readers: canonical, signature };
}

/**
 * Verify a format-3 reader list against the signing keys of the owner's current devices (from the
 * owner's device list, verified by the caller under the owner's trusted master key): it holds if
 * one of them made it. Returns the index of that key. SignatureError if none did (a device no
 * longer listed, e.g. revoked, signs nothing that verifies), InvalidArgumentError if not canonical.
 */
export async function verifyDeviceFileAccess(
  p: Primitives,
  ownerDeviceKeys: readonly Uint8Array[],
  fileKey: Uint8Array,
  access: FileAccess,
  bound: FileAccessBinding,
): Promise<number> {
  const canonical = checkCanonical(access);
  const body = await bodyV2(p, fileKey, access.owner, canonical, bound, SIGNATURE_LABELS.fileAccessV3);
  return verifyByAnyOf(p, ownerDeviceKeys, SIGNATURE_LABELS.fileAccessV3, body, access.signature, 'file reader list');
}

/** Sign a format-1 reader list: only for a file stored before format 2 (it keeps its format until re-encrypted). */
export async function signLegacyFileAccess(
  p: Primitives,
  masterSeed: Uint8Array,
  fileKey: Uint8Array,
  owner: string,
  readers: readonly string[],
): Promise<FileAccess> {
  assertUserName(owner);
  const canonical = canonicalReaders(owner, readers);
  const signature = await signWithLabel(p, masterSeed, SIGNATURE_LABELS.fileAccess, await bodyV1(p, fileKey, owner, canonical));
  return { owner, readers: canonical, signature };
}

/** Verify a format-1 reader list (a file stored before format 2). Throws SignatureError, InvalidArgumentError. */
export async function verifyLegacyFileAccess(p: Primitives, ownerMasterKey: Uint8Array, fileKey: Uint8Array, access: FileAccess): Promise<void> {
  const canonical = checkCanonical(access);
  await verifyWithLabel(
    p,
    ownerMasterKey,
    SIGNATURE_LABELS.fileAccess,
    await bodyV1(p, fileKey, access.owner, canonical),
    access.signature,
    'file reader list',
  );
}

function checkCanonical(access: FileAccess): string[] {
  assertUserName(access.owner);
  const canonical = canonicalReaders(access.owner, access.readers);
  if (canonical.join('\n') !== access.readers.join('\n')) throw new InvalidArgumentError('reader list not in canonical order');
  return canonical;
}
