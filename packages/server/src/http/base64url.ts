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

/** Decodes or returns undefined; never throws. */
export function tryDecodeBase64url(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length % 4 === 1 || !ALPHABET.test(text)) return undefined;
  const buf = Buffer.from(text, 'base64url');
  if (buf.toString('base64url') !== text) return undefined; // non-canonical trailing bits
  return new Uint8Array(buf);
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
