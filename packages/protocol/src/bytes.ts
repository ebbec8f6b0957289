/** Small byte helpers. `Uint8Array` everywhere above the primitives (DESIGN.md, convention 6). */

export function concat(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Constant-time equality for equal-length inputs (convention 8); unequal lengths return false. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** Lexicographic comparison of byte strings (shorter prefix first). */
export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Told of every array `wipe` is about to zero (the Node primitives drop keys they imported from it). */
export type WipeListener = (secret: Uint8Array) => void;
const wipeListeners = new Set<WipeListener>();

/** Register a WipeListener; returns its removal. For primitives implementations (primitives/node.ts). */
export function onWipe(listener: WipeListener): () => void {
  wipeListeners.add(listener);
  return () => wipeListeners.delete(listener);
}

/**
 * Overwrite a secret with zeros once it is no longer needed (convention 8, best effort). A key a
 * primitives implementation imported from this very array (a cached KeyObject) is dropped first.
 */
export function wipe(...secrets: (Uint8Array | undefined)[]): void {
  for (const s of secrets) {
    if (!s) continue;
    for (const listener of wipeListeners) listener(s);
    s.fill(0);
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Strict UTF-8 decode: throws TypeError on invalid sequences. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('invalid hex string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
