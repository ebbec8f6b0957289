/**
 * RFC 4648 §4 base64. age.md "Conventions": the header uses it without `=` padding; encoders
 * MUST produce canonical encodings (RFC 4648 §3.5) and decoders MUST reject non-canonical ones
 * and padding. The armor (RFC 7468) uses the padded form, also strictly canonical.
 */
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) LOOKUP[ALPHABET.charCodeAt(i)] = i;

export function isBase64Char(c: number): boolean {
  return c < 128 && (LOOKUP[c] as number) >= 0;
}

export function encodeBase64(bytes: Uint8Array, pad = false): string {
  let out = '';
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + ALPHABET.charAt((n >> 6) & 63) + ALPHABET.charAt(n & 63);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + (pad ? '==' : '');
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + ALPHABET.charAt((n >> 6) & 63) + (pad ? '=' : '');
  }
  return out;
}

/**
 * Strict unpadded decode: only alphabet characters, no `=`, a length that is not 1 mod 4, and
 * zero trailing bits (canonical). Returns null otherwise.
 */
export function decodeBase64(text: string): Uint8Array | null {
  const len = text.length;
  if (len % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? (LOOKUP[c] as number) : -1;
    if (v < 0) return null;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // RFC 4648 §3.5: the pad bits of the last character must be zero.
  if ((acc & ((1 << bits) - 1)) !== 0) return null;
  return out;
}

/** Strict padded decode (armor): length a multiple of 4, `=` only as final padding, canonical. */
export function decodeBase64Padded(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null;
  let end = text.length;
  if (text.endsWith('==')) end -= 2;
  else if (text.endsWith('=')) end -= 1;
  return decodeBase64(text.slice(0, end));
}
