/**
 * The recovery code (docs/RECOVERY.md, docs/PROTOCOL.md §18.1): 26 random symbols of Crockford's
 * base32 (130 bits) and 2 check symbols, shown once in 7 groups of 4 to be read aloud or written
 * down:
 *
 *   7K2M-9QXD-4HBN-0TRW-E5GZ-8PVA-J3C6
 *
 * Check value: c = Σ (i + 1)·vᵢ mod 1021 over the 26 data symbols vᵢ (0…31), written as two
 * symbols (c >> 5, c & 31). 1021 is prime and larger than every (i + 1)·d with |d| ≤ 31 and
 * i < 26, so ANY single changed symbol and any swap of two different neighbours changes c: such a
 * typo is always caught here, before anything is sent. Other errors slip through with
 * probability ≈ 1/1021, and the relay refuses them (the access secret does not match).
 *
 * Parsing forgives what people do when copying by hand: lower case, spaces or hyphens anywhere,
 * and Crockford's look-alikes (I and L read as 1, O as 0). U is not a symbol.
 */
import type { Primitives } from '@blindrelay/protocol';
import { RecoveryCodeError } from '../errors.js';

export const RECOVERY_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const RECOVERY_CODE_DATA_SYMBOLS = 26;
export const RECOVERY_CODE_SYMBOLS = RECOVERY_CODE_DATA_SYMBOLS + 2;
/** Bits of entropy: 26 symbols × 5 bits. */
export const RECOVERY_CODE_BITS = RECOVERY_CODE_DATA_SYMBOLS * 5;
const CHECK_MODULUS = 1021;
const GROUP = 4;

const VALUE = new Map<string, number>([...RECOVERY_CODE_ALPHABET].map((c, i) => [c, i] as const));
VALUE.set('I', 1);
VALUE.set('L', 1);
VALUE.set('O', 0);

function checkValue(values: readonly number[]): number {
  let c = 0;
  for (let i = 0; i < RECOVERY_CODE_DATA_SYMBOLS; i++) c = (c + (i + 1) * (values[i] as number)) % CHECK_MODULUS;
  return c;
}

const symbol = (v: number) => RECOVERY_CODE_ALPHABET[v] as string;

/** The 28 symbols in groups of 4, separated by hyphens. */
export function formatRecoveryCode(canonical: string): string {
  const groups: string[] = [];
  for (let i = 0; i < canonical.length; i += GROUP) groups.push(canonical.slice(i, i + GROUP));
  return groups.join('-');
}

/** A new code: `canonical` (28 symbols, what the secrets derive from) and `formatted` (to show). */
export function generateRecoveryCode(p: Primitives): { canonical: string; formatted: string } {
  // 17 random bytes = 136 bits, of which the first 130 become 26 symbols.
  const bytes = p.randomBytes(17);
  const values: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && values.length < RECOVERY_CODE_DATA_SYMBOLS) {
      bits -= 5;
      values.push((acc >> bits) & 31);
    }
    acc &= (1 << bits) - 1;
  }
  bytes.fill(0);
  const c = checkValue(values);
  const canonical = values.map(symbol).join('') + symbol(c >> 5) + symbol(c & 31);
  return { canonical, formatted: formatRecoveryCode(canonical) };
}

/**
 * The canonical form of a typed code. RecoveryCodeError (nothing is sent) if it has the wrong
 * length, a character that is not a symbol, or a check value that does not match (a typo).
 */
export function parseRecoveryCode(text: string): string {
  const compact = text.toUpperCase().replace(/[\s-]+/g, '');
  if (compact.length !== RECOVERY_CODE_SYMBOLS) {
    throw new RecoveryCodeError(`a recovery code has ${RECOVERY_CODE_SYMBOLS} characters (7 groups of 4); this one has ${compact.length}`);
  }
  const values: number[] = [];
  for (const ch of compact) {
    const v = VALUE.get(ch);
    if (v === undefined) throw new RecoveryCodeError(`a recovery code has no character ${JSON.stringify(ch)}: check the code`);
    values.push(v);
  }
  const c = checkValue(values);
  if (values[RECOVERY_CODE_DATA_SYMBOLS] !== c >> 5 || values[RECOVERY_CODE_DATA_SYMBOLS + 1] !== (c & 31)) {
    throw new RecoveryCodeError('this recovery code has a typo (its check characters do not match): check each group again. Nothing was sent');
  }
  return values.map(symbol).join('');
}
