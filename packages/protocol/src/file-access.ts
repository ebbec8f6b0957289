/**
 * Who may read a stored file, signed by its owner (docs/PROTOCOL.md §15.3). The relay keeps a
 * reader list for access control, but clients never take it from the relay: the owner's master
 * key signs the list, bound to the file's current file key, and the signature travels inside the
 * file's encrypted metadata. Re-wrapping, sharing and revoking start from the signed list, so a
 * relay cannot slip a reader in; a reader checks the signature against the owner's trusted master
 * key, so a relay cannot present a file as someone else's.
 *
 *     binding   = HKDF-SHA-256(ikm = file key, salt = "", info = "Blindrelay_FileAccess_v1", 32)
 *     body      = binding[32] | owner | u16 n | n × reader (ascending, distinct, not the owner)
 *     signature = Ed25519(owner's master key, "Blindrelay_FileAccess_v1" ‖ 0x00 ‖ body)
 *
 * The binding ties the list to one file-key epoch: a list signed for another file (or for this
 * file before a revocation changed its key) does not verify.
 */
import { utf8 } from './bytes.js';
import { Writer } from './codec.js';
import { assertUserName } from './encoding.js';
import { InvalidArgumentError } from './errors.js';
import { writeUser } from './identity-codec.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, signWithLabel, verifyWithLabel } from './signature.js';

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

async function body(p: Primitives, fileKey: Uint8Array, owner: string, readers: readonly string[]): Promise<Uint8Array> {
  const binding = await p.hkdfSha256(fileKey, new Uint8Array(0), utf8(SIGNATURE_LABELS.fileAccess), 32);
  const w = new Writer(64 + readers.length * 65).fixed(binding, 32);
  writeUser(w, owner);
  w.u16(readers.length);
  for (const r of readers) writeUser(w, r);
  return w.finish();
}

/** Sign the reader list of the file whose key is `fileKey` with the owner's master seed. */
export async function signFileAccess(
  p: Primitives,
  masterSeed: Uint8Array,
  fileKey: Uint8Array,
  owner: string,
  readers: readonly string[],
): Promise<FileAccess> {
  assertUserName(owner);
  const canonical = canonicalReaders(owner, readers);
  const signature = await signWithLabel(p, masterSeed, SIGNATURE_LABELS.fileAccess, await body(p, fileKey, owner, canonical));
  return { owner, readers: canonical, signature };
}

/**
 * Verify a reader list against the owner's trusted master key and this file's key. Throws
 * SignatureError (bad signature), InvalidArgumentError (a list that is not canonical).
 */
export async function verifyFileAccess(p: Primitives, ownerMasterKey: Uint8Array, fileKey: Uint8Array, access: FileAccess): Promise<void> {
  assertUserName(access.owner);
  const canonical = canonicalReaders(access.owner, access.readers);
  if (canonical.join('\n') !== access.readers.join('\n')) throw new InvalidArgumentError('reader list not in canonical order');
  await verifyWithLabel(p, ownerMasterKey, SIGNATURE_LABELS.fileAccess, await body(p, fileKey, access.owner, canonical), access.signature, 'file reader list');
}
