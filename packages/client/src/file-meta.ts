/**
 * A stored file's metadata (name, size, modification time), encrypted under a key derived from
 * the file key, so the relay never sees a file name (docs/PROTOCOL.md §15.2):
 *
 *     metaKey = HKDF-SHA-256(ikm = file key, salt = "", info = "Blindrelay_FileMeta_v1", 32)
 *     meta    = 0x01 | nonce[12] | ChaCha20-Poly1305(metaKey, nonce, pad(JSON), ad = 0x01)
 *
 * `pad` appends zero bytes up to a multiple of 256 (names of similar length look alike). A new
 * file key (revocation) means new metadata. The JSON also carries the owner-signed reader list
 * (`access`, protocol file-access.ts): anyone holding the file key can read and re-seal the
 * metadata, but only the owner can sign its reader list. JSON `"v":2` (since 2026-12-03): the
 * reader list is format 2, which also signs the file id, the header MAC, the name, the size and the
 * modification time, so a reader who re-seals the metadata cannot rename or resize the file and a
 * relay cannot move it to another file. `"v":1`: a file stored before (format-1 list).
 */
import { type FileAccess, fromUtf8, type Primitives, utf8 } from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from './base64url.js';
import { FileCorruptError, InvalidArgumentError } from './errors.js';

/** The sealed envelope's format byte (the JSON inside has its own `v`). */
const FORMAT = 1;
const LABEL = 'Blindrelay_FileMeta_v1';
const PAD = 256;
/** Largest encoded metadata (the relay accepts 4096 bytes). */
export const MAX_META_BYTES = 4096;
/** Longest file name kept, in UTF-8 bytes (most file systems allow 255). */
export const MAX_NAME_BYTES = 255;

export interface FileMeta {
  /** Base name only, no directory. */
  readonly name: string;
  /** Plaintext size in bytes. */
  readonly size: number;
  readonly mtimeMs?: number;
}

async function metaKey(p: Primitives, fileKey: Uint8Array): Promise<Uint8Array> {
  return p.hkdfSha256(fileKey, new Uint8Array(0), utf8(LABEL), 32);
}

/**
 * Control characters (C0, DEL, C1), invisible and line/paragraph separators, bidi controls and tag
 * characters would let a sharer forge what a terminal shows (`invoice\u202Efdp.exe`); `/` and `\`
 * would make the name a path.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we refuse
const UNSAFE_NAME = /[/\\\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff\u{e0000}-\u{e007f}]/u;

/** A base name safe to show and to write: no directory parts, no control characters, not empty. */
export function checkFileName(name: string): string {
  if (name.length === 0 || name === '.' || name === '..' || UNSAFE_NAME.test(name)) {
    throw new InvalidArgumentError(`not a usable file name: ${JSON.stringify(name)}`);
  }
  if (utf8(name).length > MAX_NAME_BYTES) throw new InvalidArgumentError(`file name longer than ${MAX_NAME_BYTES} bytes`);
  return name;
}

export interface SealedMeta {
  readonly meta: FileMeta;
  readonly access: FileAccess;
  /**
   * 3: as 2, signed by a device of the owner (custody, PROTOCOL.md §16.2); 2: the reader list signs
   * the file id, header and metadata too (master key); 1: a file stored before 2026-12-03.
   */
  readonly format: 1 | 2 | 3;
}

/** The metadata as it is stored and signed: a whole, non-negative modification time or none. */
export function normalizeMeta(meta: FileMeta): FileMeta {
  checkFileName(meta.name);
  if (!Number.isSafeInteger(meta.size) || meta.size < 0) throw new InvalidArgumentError('file size must be a non-negative integer');
  const mtime = meta.mtimeMs === undefined ? undefined : Math.floor(meta.mtimeMs);
  return { name: meta.name, size: meta.size, ...(mtime !== undefined && Number.isSafeInteger(mtime) && mtime >= 0 ? { mtimeMs: mtime } : {}) };
}

/**
 * Seal `meta` (normalized: normalizeMeta) with its reader list. `format` 2 unless the file was
 * stored before 2026-12-03 and keeps its format-1 list (a share or re-wrap of such a file).
 */
export async function sealFileMeta(p: Primitives, fileKey: Uint8Array, meta: FileMeta, access: FileAccess, format: 1 | 2 | 3 = 3): Promise<Uint8Array> {
  const m = normalizeMeta(meta);
  const json = utf8(
    JSON.stringify({
      v: format,
      name: m.name,
      size: m.size,
      ...(m.mtimeMs !== undefined ? { mtimeMs: m.mtimeMs } : {}),
      access: { owner: access.owner, readers: access.readers, signature: toBase64url(access.signature) },
    }),
  );
  if (json.length + 1 + 13 + 16 > MAX_META_BYTES) throw new InvalidArgumentError('file metadata too large (name or reader list)');
  const padded = new Uint8Array(Math.ceil((json.length + 1) / PAD) * PAD);
  padded.set(json);
  const nonce = p.randomBytes(12);
  const sealed = await p.chacha20Poly1305Seal(await metaKey(p, fileKey), nonce, padded, Uint8Array.of(FORMAT));
  const out = new Uint8Array(1 + 12 + sealed.length);
  out[0] = FORMAT;
  out.set(nonce, 1);
  out.set(sealed, 13);
  return out;
}

export async function openFileMeta(p: Primitives, fileKey: Uint8Array, bytes: Uint8Array): Promise<SealedMeta> {
  if (bytes.length < 1 + 12 + 16 || bytes.length > MAX_META_BYTES || bytes[0] !== FORMAT) throw new FileCorruptError('file metadata: unknown format');
  const padded = await p.chacha20Poly1305Open(await metaKey(p, fileKey), bytes.subarray(1, 13), bytes.subarray(13), Uint8Array.of(FORMAT));
  if (!padded) throw new FileCorruptError('file metadata failed to authenticate');
  let end = padded.length;
  while (end > 0 && padded[end - 1] === 0) end--;
  let o: { v?: unknown; name?: unknown; size?: unknown; mtimeMs?: unknown; access?: { owner?: unknown; readers?: unknown; signature?: unknown } };
  try {
    o = JSON.parse(fromUtf8(padded.subarray(0, end)));
  } catch {
    throw new FileCorruptError('file metadata is not readable');
  }
  if ((o.v !== 1 && o.v !== 2 && o.v !== 3) || typeof o.name !== 'string' || !Number.isSafeInteger(o.size) || (o.size as number) < 0)
    throw new FileCorruptError('file metadata is not readable');
  // Format 2 stores only whole, non-negative times (they are signed as a u64).
  if (o.v !== 1 && o.mtimeMs !== undefined && !(Number.isSafeInteger(o.mtimeMs) && (o.mtimeMs as number) >= 0))
    throw new FileCorruptError('file metadata is not readable');
  try {
    checkFileName(o.name);
  } catch {
    throw new FileCorruptError('file metadata holds an unusable name');
  }
  const a = o.access;
  if (typeof a !== 'object' || a === null || typeof a.owner !== 'string' || typeof a.signature !== 'string')
    throw new FileCorruptError('file metadata has no reader list');
  if (!Array.isArray(a.readers) || !a.readers.every((r) => typeof r === 'string')) throw new FileCorruptError('file metadata has no reader list');
  let signature: Uint8Array;
  try {
    signature = fromBase64url(a.signature);
  } catch {
    throw new FileCorruptError('file metadata: bad reader list signature');
  }
  return {
    meta: { name: o.name, size: o.size as number, ...(Number.isSafeInteger(o.mtimeMs) ? { mtimeMs: o.mtimeMs as number } : {}) },
    access: { owner: a.owner, readers: a.readers as string[], signature },
    format: o.v,
  };
}
