/**
 * Message wire formats (docs/PROTOCOL.md §7). Canonical, versioned binary.
 *
 * RatchetMessage: version=2 | type=1 | ratchetKey[32] | pn u32 | n u32 | sealed
 *   where sealed = AES-256-GCM(padded plaintext) with its 16-byte tag; the first 42 bytes are the
 *   Double Ratchet header (rev. 3 §3.1 HEADER(dh_pair, pn, n)), sent in the clear and
 *   authenticated as associated data.
 * PreKeyMessage:   version=2 | type=2 | certificate (u16 length) | baseKey[32] |
 *   kemCipherText[1088] | spkId u32 | hasOneTime u8 | opkId u32 (if hasOneTime) | pqId u32 |
 *   RatchetMessage (the rest). Carries what PQXDH rev. 2 §3.3 says the initial message holds.
 */
import { decodeWith, Writer } from './codec.js';
import { DecodeError } from './errors.js';
import { MAX_PLAINTEXT_BYTES } from './limits.js';
import { padme } from './padding.js';
import { MLKEM768_CIPHERTEXT_BYTES } from './primitives/types.js';

/**
 * Byte 0 of every message. 2 since sessions are bound to both parties' user names and device ids
 * (PQXDH §4.10, pqxdh.ts); version-1 messages (unbound sessions) are refused as malformed.
 */
export const PROTOCOL_VERSION = 2;
export const MESSAGE_TYPE_RATCHET = 1;
export const MESSAGE_TYPE_PREKEY = 2;
export const RATCHET_HEADER_BYTES = 42;
const TAG_BYTES = 16;
/** The largest sealed body a valid message can carry. */
export const MAX_SEALED_BYTES = padme(MAX_PLAINTEXT_BYTES + 1) + TAG_BYTES;
const MAX_CERTIFICATE_BYTES = 512;

export interface RatchetHeader {
  readonly ratchetKey: Uint8Array;
  readonly pn: number;
  readonly n: number;
}

export interface RatchetMessage {
  readonly header: RatchetHeader;
  /** The 42 encoded header bytes, authenticated as associated data. */
  readonly headerBytes: Uint8Array;
  readonly sealed: Uint8Array;
}

export interface PreKeyMessage {
  /** Every byte before the inner RatchetMessage; authenticated as associated data. */
  readonly prefix: Uint8Array;
  readonly certificate: Uint8Array;
  readonly baseKey: Uint8Array;
  readonly kemCipherText: Uint8Array;
  readonly signedPreKeyId: number;
  readonly oneTimePreKeyId: number | undefined;
  readonly pqPreKeyId: number;
  readonly message: RatchetMessage;
}

export function encodeRatchetHeader(h: RatchetHeader): Uint8Array {
  return new Writer(RATCHET_HEADER_BYTES).u8(PROTOCOL_VERSION).u8(MESSAGE_TYPE_RATCHET).fixed(h.ratchetKey, 32).u32(h.pn).u32(h.n).finish();
}

export function encodeRatchetMessage(headerBytes: Uint8Array, sealed: Uint8Array): Uint8Array {
  const out = new Uint8Array(headerBytes.length + sealed.length);
  out.set(headerBytes, 0);
  out.set(sealed, headerBytes.length);
  return out;
}

export function decodeRatchetMessage(bytes: Uint8Array): RatchetMessage {
  return decodeWith(bytes, 'message', (r) => {
    r.version(PROTOCOL_VERSION);
    if (r.u8() !== MESSAGE_TYPE_RATCHET) throw new DecodeError('message: not a ratchet message');
    const ratchetKey = r.fixed(32);
    const pn = r.u32();
    const n = r.u32();
    const sealed = r.rest();
    if (sealed.length < TAG_BYTES + 1) throw new DecodeError('message: truncated');
    if (sealed.length > MAX_SEALED_BYTES) throw new DecodeError('message: too large');
    return { header: { ratchetKey, pn, n }, headerBytes: bytes.subarray(0, RATCHET_HEADER_BYTES), sealed };
  });
}

export interface PreKeyPrefix {
  readonly certificate: Uint8Array;
  readonly baseKey: Uint8Array;
  readonly kemCipherText: Uint8Array;
  readonly signedPreKeyId: number;
  readonly oneTimePreKeyId: number | undefined;
  readonly pqPreKeyId: number;
}

/** The PreKeyMessage fields before the inner RatchetMessage; the initiator stores these. */
export function encodePreKeyPrefix(p: PreKeyPrefix): Uint8Array {
  const w = new Writer(1300).u8(PROTOCOL_VERSION).u8(MESSAGE_TYPE_PREKEY).bytes16(p.certificate);
  w.fixed(p.baseKey, 32).fixed(p.kemCipherText, MLKEM768_CIPHERTEXT_BYTES).u32(p.signedPreKeyId);
  if (p.oneTimePreKeyId === undefined) w.u8(0);
  else w.u8(1).u32(p.oneTimePreKeyId);
  return w.u32(p.pqPreKeyId).finish();
}

export function decodePreKeyMessage(bytes: Uint8Array): PreKeyMessage {
  return decodeWith(bytes, 'prekey message', (r) => {
    r.version(PROTOCOL_VERSION);
    if (r.u8() !== MESSAGE_TYPE_PREKEY) throw new DecodeError('prekey message: not a prekey message');
    const certificate = r.bytes16(MAX_CERTIFICATE_BYTES);
    const baseKey = r.fixed(32);
    const kemCipherText = r.fixed(MLKEM768_CIPHERTEXT_BYTES);
    const signedPreKeyId = r.u32();
    const oneTimePreKeyId = r.flag() ? r.u32() : undefined;
    const pqPreKeyId = r.u32();
    const inner = r.rest();
    const message = decodeRatchetMessage(inner);
    const prefix = bytes.subarray(0, bytes.length - inner.length);
    return { prefix, certificate, baseKey, kemCipherText, signedPreKeyId, oneTimePreKeyId, pqPreKeyId, message };
  });
}

/** The message type byte, after checking the version; throws DecodeError otherwise. */
export function messageType(bytes: Uint8Array): typeof MESSAGE_TYPE_RATCHET | typeof MESSAGE_TYPE_PREKEY {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) throw new DecodeError('message: truncated');
  if (bytes[0] !== PROTOCOL_VERSION) throw new DecodeError(`message: unsupported version ${bytes[0]}`);
  const t = bytes[1];
  if (t !== MESSAGE_TYPE_RATCHET && t !== MESSAGE_TYPE_PREKEY) throw new DecodeError('message: unknown type');
  return t;
}
