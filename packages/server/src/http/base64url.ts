/**
 * Strict base64url without padding (docs/API.md "Conventions"), RFC 4648 §5. Each value has one
 * encoding: the unused low bits of the last character must be zero, so `AA` and `AB` (both one
 * zero byte to a lenient decoder) are not both accepted.
 */
import { badRequest } from './errors.js';

const ALPHABET = /^[A-Za-z0-9_-]*$/;

/** Characters in the unpadded encoding of `bytes` bytes. */
export const encodedLength = (bytes: number): number => Math.ceil((bytes * 4) / 3);

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** The 6-bit value of each base64url character (RFC 4648 §5, table 2). */
const VALUE = new Uint8Array(128);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) VALUE[c.charCodeAt(0)] = i;

/**
 * Decodes or returns undefined; never throws. Canonical means the bits of the last character that
 * encode no byte are zero (4 of them after 2 characters of a group, 2 after 3): checked on that
 * character instead of encoding the bytes again. Decodes straight into a buffer of its own.
 */
export function tryDecodeBase64url(text: string): Uint8Array | undefined {
  if (typeof text !== 'string') return undefined;
  const rest = text.length % 4;
  if (rest === 1 || !ALPHABET.test(text)) return undefined;
  if (rest !== 0 && ((VALUE[text.charCodeAt(text.length - 1)] as number) & (rest === 2 ? 0b1111 : 0b11)) !== 0) return undefined;
  const out = new Uint8Array((text.length * 3) >> 2);
  if (Buffer.from(out.buffer).write(text, 'base64url') !== out.length) return undefined;
  return out;
}

/** Decodes a named field or throws a 400 naming the field (never its value). */
export function decodeField(text: string, field: string, size?: { exact?: number; min?: number; max?: number }): Uint8Array {
  const bytes = tryDecodeBase64url(text);
  if (!bytes) throw badRequest(`${field}: not canonical base64url without padding`);
  if (size?.exact !== undefined && bytes.length !== size.exact) throw badRequest(`${field}: must be ${size.exact} bytes`);
  if (size?.min !== undefined && bytes.length < size.min) throw badRequest(`${field}: must be at least ${size.min} bytes`);
  if (size?.max !== undefined && bytes.length > size.max) throw badRequest(`${field}: must be at most ${size.max} bytes`);
  return bytes;
}
