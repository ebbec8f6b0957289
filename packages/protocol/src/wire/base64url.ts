/**
 * Base64url without padding (RFC 4648 §5), the encoding of every binary field of the relay API
 * (docs/API.md, "Conventions"): one strict codec for both ends of the wire. Platform-neutral;
 * strict: the decoder rejects padding, foreign characters and non-canonical trailing bits (each
 * value has one encoding: `AA` and `AB` are not both one zero byte).
 *
 * Where Node's Buffer is present (and speaks base64url) long values are done natively: every
 * message goes through here several times (frames, pushes, profile records), and the portable loops
 * cost ~5 % of the SDK's CPU per message in the relay bench (docs/BENCHMARKS.md). Both paths give
 * the same results (packages/client/test/codec.test.ts checks the portable one against Buffer).
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const CHARS: readonly string[] = [...ALPHABET];
const c = (i: number) => CHARS[i] as string;
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

/** The alphabet as a JSON-schema pattern (the relay's schemas). */
export const BASE64URL_PATTERN = '^[A-Za-z0-9_-]*$';

/** Characters in the unpadded encoding of `bytes` bytes (RFC 4648 §5, no padding: ⌈4n/3⌉). */
export const encodedLength = (bytes: number): number => Math.ceil((bytes * 4) / 3);

/** The portable encoder (any JavaScript platform). */
export function toBase64urlPortable(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out += c(n >>> 18) + c((n >>> 12) & 63) + c((n >>> 6) & 63) + c(n & 63);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    out += c(n >>> 18) + c((n >>> 12) & 63);
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += c(n >>> 18) + c((n >>> 12) & 63) + c((n >>> 6) & 63);
  }
  return out;
}

/** The portable decoder; throws TypeError on anything that is not canonical unpadded base64url. */
export function fromBase64urlPortable(text: string): Uint8Array {
  if (typeof text !== 'string' || text.length % 4 === 1) throw new TypeError('invalid base64url');
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const v = code < 128 ? (LOOKUP[code] as number) : -1;
    if (v < 0) throw new TypeError('invalid base64url');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  if (acc !== 0) throw new TypeError('invalid base64url: non-zero trailing bits');
  return out;
}

interface NodeBufferLike {
  toString(encoding: 'base64url'): string;
  write(text: string, encoding: 'base64url'): number;
}
interface NodeBufferClass {
  from(buffer: ArrayBufferLike, byteOffset?: number, length?: number): NodeBufferLike;
}

/** Node's Buffer, if present and if it encodes base64url as RFC 4648 §5 says (not a partial polyfill). */
const NATIVE: NodeBufferClass | undefined = (() => {
  const B = (globalThis as { Buffer?: NodeBufferClass }).Buffer;
  try {
    if (!B) return undefined;
    const probe = Uint8Array.of(0xfb, 0xff, 0xbf);
    return B.from(probe.buffer, 0, 3).toString('base64url') === '-_-_' ? B : undefined;
  } catch {
    return undefined;
  }
})();

const CANONICAL = /^[A-Za-z0-9_-]*$/;

/** Below these sizes the portable loops are faster than a call into Buffer (measured, Node 24). */
const NATIVE_MIN_BYTES = 24;
const NATIVE_MIN_CHARS = 256;

export function toBase64url(bytes: Uint8Array): string {
  if (!NATIVE || bytes.length < NATIVE_MIN_BYTES) return toBase64urlPortable(bytes);
  return NATIVE.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url');
}

/** Decode; throws TypeError on anything that is not canonical unpadded base64url. */
export function fromBase64url(text: string): Uint8Array {
  if (!NATIVE || typeof text !== 'string' || text.length < NATIVE_MIN_CHARS) return fromBase64urlPortable(text);
  // Buffer's decoder is lenient (padding, '+', '/', white space): check strictly first.
  if (typeof text !== 'string' || text.length % 4 === 1 || !CANONICAL.test(text)) throw new TypeError('invalid base64url');
  const tail = text.length % 4;
  if (tail !== 0) {
    const last = LOOKUP[text.charCodeAt(text.length - 1)] as number;
    if ((last & (tail === 2 ? 0x0f : 0x03)) !== 0) throw new TypeError('invalid base64url: non-zero trailing bits');
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  if (NATIVE.from(out.buffer).write(text, 'base64url') !== out.length) throw new TypeError('invalid base64url');
  return out;
}

/** Decode, or undefined for anything that is not canonical unpadded base64url; never throws. */
export function tryFromBase64url(text: unknown): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    return fromBase64url(text);
  } catch {
    return undefined;
  }
}
