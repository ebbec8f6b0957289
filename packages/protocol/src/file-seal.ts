/**
 * The owner's seal on one stored version of a file (docs/PROTOCOL.md §15.4): the owner's master
 * key signs the digest of the version's payload (payload-digest.ts), bound to the file id, the
 * version number, the payload size and the version's file key.
 *
 *     binding   = HKDF-SHA-256(ikm = file key, salt = "", info = "Blindrelay_FileContent_v1", 32)
 *     body      = binding[32] | fileId[16] | version u64 | payloadSize u64 | digest[32]
 *     signature = Ed25519(owner's master key, "Blindrelay_FileContent_v1" ‖ 0x00 ‖ body)
 *     seal      = 0x01 | digest[32] | signature[64]                      (97 bytes)
 *
 * The relay stores the seal beside the version, in the clear: it holds nothing secret (the relay
 * can compute the digest of the ciphertext it stores), and the relay cannot check it either (the
 * binding needs the file key). Anyone holding the file key (every reader) can encrypt other
 * content under it, but only the owner can seal it: a reader colluding with the relay cannot
 * substitute the payload. The binding also commits the seal to the file key, so the same payload
 * under another header does not verify.
 *
 * Format 2 (custody, PROTOCOL.md §16.2): `0x02 | digest[32] | signature[64]`, the same body under
 * "Blindrelay_FileContent_v2" (binding and signature), signed by one of the owner's devices and
 * verified against the owner's current verified device list (a revoked device's seals stop
 * verifying; the relay, which checks only the format, keeps its 97-byte column).
 */
import { utf8 } from './bytes.js';
import { decodeWith, Writer } from './codec.js';
import { DecodeError, InvalidArgumentError, SignatureError } from './errors.js';
import { PAYLOAD_DIGEST_BYTES } from './payload-digest.js';
import type { Primitives } from './primitives/types.js';
import { SIGNATURE_LABELS, type SignatureLabel, signWithLabel, verifyByAnyOf, verifyWithLabel } from './signature.js';

const FORMAT = 0x01;
/** Seal format 2 (custody, §16.2): the same bytes, signed by a device of the owner under Blindrelay_FileContent_v2. */
const DEVICE_FORMAT = 0x02;
export const FILE_ID_BYTES = 16;
export const FILE_SEAL_BYTES = 1 + PAYLOAD_DIGEST_BYTES + 64;

export interface FileSeal {
  /** 1: signed by the owner's master key; 2: by one of the owner's devices. */
  readonly format: 1 | 2;
  /** The payload digest the owner signed. */
  readonly digest: Uint8Array;
  readonly signature: Uint8Array;
}

/** Which stored version a seal is for. */
export interface FileVersionRef {
  /** The relay's 16-byte file id. */
  readonly fileId: Uint8Array;
  readonly version: number;
  /** Payload bytes, nonce included. */
  readonly payloadSize: number;
}

export function encodeFileSeal(seal: FileSeal): Uint8Array {
  return new Writer(FILE_SEAL_BYTES)
    .u8(seal.format === 2 ? DEVICE_FORMAT : FORMAT)
    .fixed(seal.digest, PAYLOAD_DIGEST_BYTES)
    .fixed(seal.signature, 64)
    .finish();
}

/** Throws DecodeError on anything but exactly `(0x01 | 0x02) | digest[32] | signature[64]`. */
export function decodeFileSeal(bytes: Uint8Array): FileSeal {
  return decodeWith(bytes, 'file seal', (r) => {
    const format = r.u8();
    if (format !== FORMAT && format !== DEVICE_FORMAT) throw new DecodeError(`file seal: unsupported format ${format}`);
    return { format: format === DEVICE_FORMAT ? 2 : 1, digest: r.fixed(PAYLOAD_DIGEST_BYTES).slice(), signature: r.fixed(64).slice() };
  });
}

async function body(
  p: Primitives,
  fileKey: Uint8Array,
  ref: FileVersionRef,
  digest: Uint8Array,
  label: SignatureLabel = SIGNATURE_LABELS.fileContent,
): Promise<Uint8Array> {
  if (ref.fileId.length !== FILE_ID_BYTES) throw new InvalidArgumentError('a file id is 16 bytes');
  if (!Number.isSafeInteger(ref.version) || ref.version < 1) throw new InvalidArgumentError('a file version is a positive integer');
  if (!Number.isSafeInteger(ref.payloadSize) || ref.payloadSize < 0) throw new InvalidArgumentError('payload size out of range');
  const binding = await p.hkdfSha256(fileKey, new Uint8Array(0), utf8(label), 32);
  return new Writer(32 + FILE_ID_BYTES + 16 + PAYLOAD_DIGEST_BYTES)
    .fixed(binding, 32)
    .fixed(ref.fileId, FILE_ID_BYTES)
    .u64(ref.version)
    .u64(ref.payloadSize)
    .fixed(digest, PAYLOAD_DIGEST_BYTES)
    .finish();
}

/** Seal a version whose payload has digest `digest`, with the owner's master seed; returns the encoded seal. */
export async function signFileSeal(p: Primitives, masterSeed: Uint8Array, fileKey: Uint8Array, ref: FileVersionRef, digest: Uint8Array): Promise<Uint8Array> {
  const signature = await signWithLabel(p, masterSeed, SIGNATURE_LABELS.fileContent, await body(p, fileKey, ref, digest));
  return encodeFileSeal({ format: 1, digest, signature });
}

/**
 * Seal a version (format 2, custody §16.2) with the signing seed of one of the owner's devices:
 * the body of format 1 under the label Blindrelay_FileContent_v2 (binding included).
 */
export async function signDeviceFileSeal(
  p: Primitives,
  deviceSigningSeed: Uint8Array,
  fileKey: Uint8Array,
  ref: FileVersionRef,
  digest: Uint8Array,
): Promise<Uint8Array> {
  const label = SIGNATURE_LABELS.fileContentV2;
  const signature = await signWithLabel(p, deviceSigningSeed, label, await body(p, fileKey, ref, digest, label));
  return encodeFileSeal({ format: 2, digest, signature });
}

/**
 * Check an encoded seal of either format: format 1 against the owner's trusted master key, format
 * 2 against the signing keys of the owner's current verified devices. Returns the signed digest.
 * Throws DecodeError (malformed), SignatureError (not the owner's seal of this version).
 */
export async function verifyAnyFileSeal(
  p: Primitives,
  owner: { readonly masterKey: Uint8Array; readonly deviceKeys: readonly Uint8Array[] },
  fileKey: Uint8Array,
  ref: FileVersionRef,
  sealBytes: Uint8Array,
): Promise<Uint8Array> {
  const seal = decodeFileSeal(sealBytes);
  if (seal.format === 1) return verifyFileSeal(p, owner.masterKey, fileKey, ref, sealBytes);
  const label = SIGNATURE_LABELS.fileContentV2;
  await verifyByAnyOf(p, owner.deviceKeys, label, await body(p, fileKey, ref, seal.digest, label), seal.signature, 'file seal');
  return seal.digest;
}

/**
 * Check an encoded seal against the owner's trusted master key and this version; returns the
 * payload digest the owner signed (compare it with the payload's). Throws DecodeError (malformed),
 * SignatureError (not the owner's seal of this version).
 */
export async function verifyFileSeal(
  p: Primitives,
  ownerMasterKey: Uint8Array,
  fileKey: Uint8Array,
  ref: FileVersionRef,
  sealBytes: Uint8Array,
): Promise<Uint8Array> {
  const seal = decodeFileSeal(sealBytes);
  if (seal.format !== 1) throw new SignatureError('file seal: not a master-key seal');
  await verifyWithLabel(p, ownerMasterKey, SIGNATURE_LABELS.fileContent, await body(p, fileKey, ref, seal.digest), seal.signature, 'file seal');
  return seal.digest;
}
