/**
 * Plaintext padding before encryption, so ciphertext lengths leak little (DESIGN.md, "Sessions").
 *
 * The padded length is Padmé(L + 1) (Nikitin et al., "Reducing Metadata Leakage from Encrypted
 * Files and Communication with PURBs", PETS 2019, §4): at most ~12% overhead, leaking
 * O(log log L) bits of the length. The message is terminated with 0x80 and zero-filled
 * (ISO/IEC 7816-4 padding), so the true length is recoverable and unambiguous.
 */

/** Padmé: round L up so that only the top ⌊log2 ⌊log2 L⌋⌋ + 1 bits of its length vary. */
export function padme(length: number): number {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError('length must be a non-negative safe integer');
  if (length <= 2) return length;
  let e = 0; // ⌊log2 L⌋, exact for every safe integer (Math.clz32 would stop at 2^32)
  while (2 ** (e + 1) <= length) e++;
  const s = 32 - Math.clz32(e); // ⌊log2 E⌋ + 1 (E ≤ 52)
  const lastBits = e - s;
  const mask = 2 ** lastBits - 1;
  return Math.ceil(length / (mask + 1)) * (mask + 1);
}

/** Tails up to this size (those of plaintexts up to ~64 KiB) are views of one shared buffer. */
const SHARED_TAIL = new Uint8Array(8192);
SHARED_TAIL[0] = 0x80;

/**
 * The bytes appended to a plaintext of `length` bytes: 0x80, then zeros up to Padmé(length + 1).
 * Read-only: short tails are views of one buffer shared by every call.
 */
export function paddingFor(length: number): Uint8Array {
  const size = padme(length + 1) - length;
  if (size <= SHARED_TAIL.length) return SHARED_TAIL.subarray(0, size);
  const tail = new Uint8Array(size);
  tail[0] = 0x80;
  return tail;
}

export function pad(plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(padme(plaintext.length + 1));
  out.set(plaintext, 0);
  out[plaintext.length] = 0x80;
  return out;
}

/** Strip the padding; returns null if it is malformed (the caller reports a DecryptError). */
export function unpad(padded: Uint8Array): Uint8Array | null {
  let i = padded.length - 1;
  while (i >= 0 && padded[i] === 0) i--;
  if (i < 0 || padded[i] !== 0x80) return null;
  if (padme(i + 1) !== padded.length) return null;
  return padded.subarray(0, i);
}
