/**
 * ASCII armor (age.md "ASCII armor"): strict PEM per RFC 7468 §3 (Figure 3, "stricttextualmsg")
 * with the case-sensitive label "AGE ENCRYPTED FILE": padded base64 in lines of exactly 64
 * columns except the last (1 to 64), canonical, no headers, no blank lines. Following age.md we
 * accept whitespace before and after the block and LF or CRLF line endings, nothing else.
 */
import { utf8 } from '../bytes.js';
import { decodeBase64Padded, encodeBase64 } from './base64.js';
import { AgeArmorError } from './errors.js';

export const ARMOR_BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
export const ARMOR_END = '-----END AGE ENCRYPTED FILE-----';
const COLUMNS = 64;
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

export function armor(bytes: Uint8Array): string {
  const b64 = encodeBase64(bytes, true);
  let out = `${ARMOR_BEGIN}\n`;
  for (let i = 0; i < b64.length; i += COLUMNS) out += `${b64.slice(i, i + COLUMNS)}\n`;
  return `${out}${ARMOR_END}\n`;
}

/** True when `bytes` (after leading whitespace) starts like an armored age file. */
export function isArmored(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && WHITESPACE.has(bytes[i] as number)) i++;
  const prefix = '-----BEGIN';
  for (let j = 0; j < prefix.length; j++) if (bytes[i + j] !== prefix.charCodeAt(j)) return false;
  return true;
}

export function dearmor(input: Uint8Array | string): Uint8Array {
  const bytes = typeof input === 'string' ? utf8(input) : input;
  let start = 0;
  let end = bytes.length;
  while (start < end && WHITESPACE.has(bytes[start] as number)) start++;
  while (end > start && WHITESPACE.has(bytes[end - 1] as number)) end--;
  let text = '';
  for (let i = start; i < end; i++) {
    const c = bytes[i] as number;
    if (c > 0x7e || (c < 0x20 && c !== 0x0a && c !== 0x0d)) throw new AgeArmorError('invalid character');
    text += String.fromCharCode(c);
  }
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines[0] !== ARMOR_BEGIN) throw new AgeArmorError('missing or malformed begin line');
  if (lines.length < 2 || lines[lines.length - 1] !== ARMOR_END) throw new AgeArmorError('missing or malformed end line');
  const body = lines.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const line = body[i] as string;
    const isLast = i === body.length - 1;
    if (line.length === 0 || line.length > COLUMNS || (!isLast && line.length !== COLUMNS)) throw new AgeArmorError('bad line length');
    if (!isLast && line.includes('=')) throw new AgeArmorError('padding before the last line');
  }
  const b64 = body.join('');
  const decoded = decodeBase64Padded(b64);
  if (!decoded || encodeBase64(decoded, true) !== b64) throw new AgeArmorError('invalid or non-canonical base64');
  return decoded;
}
