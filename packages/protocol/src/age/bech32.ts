/**
 * Bech32 (BIP-173), the encoding of age recipients (`age1…`) and identities
 * (`AGE-SECRET-KEY-1…`). age.md "Conventions": BIP-173 without its 90-character length limit;
 * strings are all lowercase or all uppercase, and the checksum is computed over the lowercase form.
 * An encoding, not a primitive: no secret-dependent branches beyond the character lookup.
 */
import { AgeEncodingError } from './errors.js';

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

/** BIP-173 "Checksum": the BCH polymod over GF(32). */
function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i] as number;
  }
  return chk;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) >> 5);
  out.push(0);
  for (let i = 0; i < hrp.length; i++) out.push(hrp.charCodeAt(i) & 31);
  return out;
}

function checksum(hrp: string, data: number[]): number[] {
  const mod = polymod([...hrpExpand(hrp), ...data, 0, 0, 0, 0, 0, 0]) ^ 1;
  const out: number[] = [];
  for (let i = 0; i < 6; i++) out.push((mod >>> (5 * (5 - i))) & 31);
  return out;
}

/** BIP-173 "Base32 conversion" (the reference `convertbits`): regroup `from`-bit values into `to` bits. */
function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] | null {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const max = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v < 0 || v >> from !== 0) return null;
    acc = ((acc << from) | v) & 0xffffff;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >> bits) & max);
    }
  }
  if (pad) {
    if (bits > 0) out.push((acc << (to - bits)) & max);
  } else if (bits >= from || ((acc << (to - bits)) & max) !== 0) {
    return null;
  }
  return out;
}

function validHrp(hrp: string): boolean {
  if (hrp.length < 1) return false;
  for (let i = 0; i < hrp.length; i++) {
    const c = hrp.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  return true;
}

/** Checksum-level decode: the human-readable part (lowercase) and the 5-bit data words. */
export function bech32DecodeWords(text: string): { hrp: string; words: number[] } {
  if (typeof text !== 'string') throw new AgeEncodingError('bech32: not a string');
  const lower = text.toLowerCase();
  if (text !== lower && text !== text.toUpperCase()) throw new AgeEncodingError('bech32: mixed case');
  const sep = lower.lastIndexOf('1');
  if (sep < 1 || sep + 7 > lower.length) throw new AgeEncodingError('bech32: separator misplaced');
  const hrp = lower.slice(0, sep);
  if (!validHrp(hrp)) throw new AgeEncodingError('bech32: invalid human-readable part');
  const words: number[] = [];
  for (let i = sep + 1; i < lower.length; i++) {
    const v = CHARSET.indexOf(lower.charAt(i));
    if (v < 0) throw new AgeEncodingError('bech32: invalid data character');
    words.push(v);
  }
  if (polymod([...hrpExpand(hrp), ...words]) !== 1) throw new AgeEncodingError('bech32: bad checksum');
  return { hrp, words: words.slice(0, -6) };
}

/** Decode to the lowercase human-readable part and the 8-bit payload. */
export function bech32Decode(text: string): { hrp: string; data: Uint8Array } {
  const { hrp, words } = bech32DecodeWords(text);
  const bytes = convertBits(words, 5, 8, false);
  if (!bytes) throw new AgeEncodingError('bech32: invalid padding');
  return { hrp, data: Uint8Array.from(bytes) };
}

/** Encode 8-bit `data` under `hrp`; the result is lowercase, or uppercase when `upper`. */
export function bech32Encode(hrp: string, data: Uint8Array, upper = false): string {
  const lowerHrp = hrp.toLowerCase();
  if (!validHrp(lowerHrp) || (hrp !== lowerHrp && hrp !== hrp.toUpperCase())) throw new AgeEncodingError('bech32: invalid human-readable part');
  const words = convertBits(data, 8, 5, true) as number[];
  const all = [...words, ...checksum(lowerHrp, words)];
  let out = `${lowerHrp}1`;
  for (const w of all) out += CHARSET.charAt(w);
  return upper ? out.toUpperCase() : out;
}
