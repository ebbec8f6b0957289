/**
 * The cleartext framing of MLS messages (RFC 9420 §6), read by the relay acting as the delivery
 * service: it orders handshake messages by (group_id, epoch) and checks shapes, never content.
 * Only what RFC 9420 puts in the clear is read: a PrivateMessage's group_id, epoch and
 * content_type (§6.3), a KeyPackage's version and cipher suite (§10), the wire format (§6).
 * Every length is checked and the message must end exactly where its last field does.
 */
import { DecodeError } from '../errors.js';

/** RFC 9420 §6: ProtocolVersion mls10. */
export const MLS10 = 1;
/** RFC 9420 §6 WireFormat (IANA "MLS Wire Formats"). */
export const WIRE_FORMAT = { publicMessage: 1, privateMessage: 2, welcome: 3, groupInfo: 4, keyPackage: 5 } as const;
/** RFC 9420 §6 ContentType. */
export const CONTENT_TYPE = { application: 1, proposal: 2, commit: 3 } as const;
/** The cipher suite groups use (docs/DECISIONS.md): MLS_256_XWING_AES256GCM_SHA512_Ed25519. */
export const GROUP_CIPHER_SUITE = 0x0053;

/** RFC 9420 §2.1.2 variable-length integers and the reads built on them. */
class Reader {
  private at = 0;
  constructor(private readonly b: Uint8Array) {}
  u8(): number {
    if (this.at + 1 > this.b.length) throw new DecodeError('MLS message: truncated');
    return this.b[this.at++] as number;
  }
  u16(): number {
    return (this.u8() << 8) | this.u8();
  }
  u64(): bigint {
    let v = 0n;
    for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(this.u8());
    return v;
  }
  /** §2.1.2: 2-bit prefix gives 1, 2 or 4 bytes; prefix 0b11 is invalid; minimal encoding only. */
  varint(): number {
    const first = this.u8();
    const prefix = first >> 6;
    if (prefix === 3) throw new DecodeError('MLS message: invalid length prefix');
    let v = first & 0x3f;
    const extra = prefix === 0 ? 0 : prefix === 1 ? 1 : 3;
    for (let i = 0; i < extra; i++) v = v * 256 + this.u8();
    const min = prefix === 0 ? 0 : prefix === 1 ? 64 : 16384;
    if (v < min) throw new DecodeError('MLS message: non-minimal length');
    return v;
  }
  /** opaque<V> */
  opaque(max = Number.MAX_SAFE_INTEGER): Uint8Array {
    const n = this.varint();
    if (n > max) throw new DecodeError('MLS message: field too long');
    if (this.at + n > this.b.length) throw new DecodeError('MLS message: truncated');
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  end(): void {
    if (this.at !== this.b.length) throw new DecodeError('MLS message: trailing bytes');
  }
}

/** Group ids are 16 random bytes chosen by the creator (docs/PROTOCOL.md §22). */
export const GROUP_ID_BYTES = 16;

export interface PrivateMessageFrame {
  readonly wireFormat: typeof WIRE_FORMAT.privateMessage;
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly contentType: (typeof CONTENT_TYPE)[keyof typeof CONTENT_TYPE];
}

/**
 * Reads an MLSMessage carrying a PrivateMessage (§6.3.1):
 * `version, wire_format, group_id<V>, epoch u64, content_type u8, authenticated_data<V>,
 * encrypted_sender_data<V>, ciphertext<V>`. Anything else throws DecodeError.
 */
export function readPrivateMessageFrame(bytes: Uint8Array): PrivateMessageFrame {
  const r = new Reader(bytes);
  if (r.u16() !== MLS10) throw new DecodeError('MLS message: unsupported version');
  if (r.u16() !== WIRE_FORMAT.privateMessage) throw new DecodeError('MLS message: not a PrivateMessage');
  const groupId = r.opaque(255);
  if (groupId.length !== GROUP_ID_BYTES) throw new DecodeError('MLS message: bad group id');
  const epoch = r.u64();
  const contentType = r.u8();
  if (contentType !== CONTENT_TYPE.application && contentType !== CONTENT_TYPE.proposal && contentType !== CONTENT_TYPE.commit)
    throw new DecodeError('MLS message: bad content type');
  r.opaque(); // authenticated_data
  const senderData = r.opaque();
  if (senderData.length === 0) throw new DecodeError('MLS message: empty sender data');
  const ciphertext = r.opaque();
  if (ciphertext.length === 0) throw new DecodeError('MLS message: empty ciphertext');
  r.end();
  return { wireFormat: WIRE_FORMAT.privateMessage, groupId: groupId.slice(), epoch, contentType };
}

/** An MLSMessage carrying a Welcome (§12.4.3.1): version and wire format checked, body opaque. */
export function checkWelcomeFrame(bytes: Uint8Array): void {
  const r = new Reader(bytes);
  if (r.u16() !== MLS10) throw new DecodeError('MLS message: unsupported version');
  if (r.u16() !== WIRE_FORMAT.welcome) throw new DecodeError('MLS message: not a Welcome');
  if (r.u16() !== GROUP_CIPHER_SUITE) throw new DecodeError('MLS message: unsupported cipher suite');
}

/** An MLSMessage carrying a KeyPackage (§10): `version, wire_format, KeyPackage{version, cipher_suite, ...}`. */
export function checkKeyPackageFrame(bytes: Uint8Array): void {
  const r = new Reader(bytes);
  if (r.u16() !== MLS10) throw new DecodeError('MLS message: unsupported version');
  if (r.u16() !== WIRE_FORMAT.keyPackage) throw new DecodeError('MLS message: not a KeyPackage');
  if (r.u16() !== MLS10) throw new DecodeError('KeyPackage: unsupported version');
  if (r.u16() !== GROUP_CIPHER_SUITE) throw new DecodeError('KeyPackage: unsupported cipher suite');
  const initKey = r.opaque();
  if (initKey.length === 0) throw new DecodeError('KeyPackage: empty init key');
}
