/**
 * Blind-index transformations and the word tokenizer (docs/PROTOCOL.md §19.3).
 *
 * Every transformation is a function from a string to a string, applied in the order the index
 * declares; each starts from Unicode NFKC (UAX #15) so that visually equal inputs index equally.
 * Case folding is NFKC, then the locale-independent `toLowerCase` (Unicode default case
 * conversion), then NFKC again (lowercasing can leave a string that is not NFKC-normal).
 *
 *   nfkc    NFKC
 *   lower   NFKC, lowercase, NFKC
 *   trim    NFKC, trim, runs of white space become one U+0020
 *   digits  NFKC, keep only 0-9 (full-width digits become ASCII under NFKC)
 *   last4   digits, then the last four, left-padded with "0" to four (CipherSweet's LastFourDigits)
 *   first   NFKC, lowercase, NFKC, then the first code point ("" for an empty string)
 *
 * Words (full-text indexes): lowercase as above, then every maximal run of letters, marks and
 * numbers (\p{L}\p{M}\p{N}) is a word; words longer than MAX_WORD_CODE_POINTS code points are cut
 * to that length; duplicates are dropped; at most MAX_WORDS_PER_FIELD distinct words per field
 * are indexed (the first ones in the text).
 */
import { InvalidArgumentError } from '../errors.js';

export const TRANSFORMS = ['nfkc', 'lower', 'trim', 'digits', 'last4', 'first'] as const;
export type Transform = (typeof TRANSFORMS)[number];

export const MAX_WORD_CODE_POINTS = 64;
export const MAX_WORDS_PER_FIELD = 4096;

const nfkc = (s: string) => s.normalize('NFKC');
const lower = (s: string) => s.normalize('NFKC').toLowerCase().normalize('NFKC');
const digits = (s: string) => nfkc(s).replace(/[^0-9]/g, '');

const IMPLEMENTATIONS: Record<Transform, (s: string) => string> = {
  nfkc,
  lower,
  trim: (s) => nfkc(s).trim().replace(/\s+/gu, ' '),
  digits,
  last4: (s) => digits(s).slice(-4).padStart(4, '0'),
  first: (s) => {
    const c = lower(s).codePointAt(0);
    return c === undefined ? '' : String.fromCodePoint(c);
  },
};

export function isTransform(name: unknown): name is Transform {
  return typeof name === 'string' && (TRANSFORMS as readonly string[]).includes(name);
}

/** Apply `transforms` in order (none: NFKC alone, so every index input is normalised). */
export function applyTransforms(value: string, transforms: readonly Transform[]): string {
  if (transforms.length === 0) return nfkc(value);
  let out = value;
  for (const t of transforms) {
    const f = IMPLEMENTATIONS[t];
    if (!f) throw new InvalidArgumentError(`unknown transformation: ${String(t)}`);
    out = f(out);
  }
  return out;
}

const WORD = /[\p{L}\p{M}\p{N}]+/gu;

/** The distinct words of `text`, in order of first appearance (see the header for the rule). */
export function tokenize(text: string): string[] {
  const seen = new Set<string>();
  for (const match of lower(text).matchAll(WORD)) {
    let word = match[0];
    if (word.length > MAX_WORD_CODE_POINTS) {
      const cps = Array.from(word);
      if (cps.length > MAX_WORD_CODE_POINTS) word = cps.slice(0, MAX_WORD_CODE_POINTS).join('');
    }
    seen.add(word);
    if (seen.size >= MAX_WORDS_PER_FIELD) break;
  }
  return [...seen];
}

/**
 * The string a JSON field value is indexed as: strings as they are, finite numbers in JavaScript's
 * shortest round-trip form (`String(n)`), booleans as "true" / "false". Null, objects and arrays
 * are not indexed (undefined).
 */
export function indexableText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return undefined;
}
