/**
 * ChaCha20-Poly1305 (RFC 8439, no associated data) for many chunks under one key, run on libuv's
 * thread pool through Node's WebCrypto (Node ≥ 24.7, where the algorithm is still marked
 * experimental), so that chunks in flight together use every core. node:crypto's Cipheriv runs on
 * the calling thread only.
 *
 * Node prints an ExperimentalWarning the first time the algorithm is used. The bytes are the
 * standard's (checked against node:crypto's and RFC 8439's by the tests, and probed here once), so
 * that one warning is kept off the user's terminal while the probe runs; any other warning passes.
 */
import type { ChaCha20Poly1305Pool } from './types.js';

const ALGORITHM = 'ChaCha20-Poly1305';
type Subtle = {
  importKey(format: string, key: Uint8Array, algorithm: { name: string }, extractable: boolean, usages: string[]): Promise<unknown>;
  encrypt(algorithm: { name: string; iv: Uint8Array }, key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
  decrypt(algorithm: { name: string; iv: Uint8Array }, key: unknown, data: Uint8Array): Promise<ArrayBuffer>;
};
const subtle = (globalThis.crypto?.subtle as unknown as Subtle | undefined) ?? undefined;

// RFC 8439 §2.8.2 is with associated data; this probe only checks that the algorithm round-trips
// and produces ciphertext || 16-byte tag. Correctness against node:crypto is the tests' job.
async function importKey(key: Uint8Array): Promise<unknown> {
  return (subtle as Subtle).importKey('raw-secret', key, { name: ALGORITHM }, false, ['encrypt', 'decrypt']);
}

let probed: Promise<boolean> | undefined;

/** True when this runtime's WebCrypto has ChaCha20-Poly1305; the first call probes it, quietly. */
export function hasChaCha20Poly1305Pool(): Promise<boolean> {
  probed ??= (async () => {
    if (!subtle || typeof process === 'undefined') return false;
    const emit = process.emitWarning;
    process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
      if (String(typeof warning === 'string' ? warning : warning.message).includes(`${ALGORITHM} Web Crypto`)) return;
      (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
    }) as typeof process.emitWarning;
    try {
      const key = await importKey(new Uint8Array(32));
      const iv = new Uint8Array(12);
      const sealed = new Uint8Array(await subtle.encrypt({ name: ALGORITHM, iv }, key, new Uint8Array(3)));
      const opened = new Uint8Array(await subtle.decrypt({ name: ALGORITHM, iv }, key, sealed));
      return sealed.length === 19 && opened.length === 3;
    } catch {
      return false;
    } finally {
      process.emitWarning = emit;
    }
  })();
  return probed;
}

/** A pool for `key`, or undefined when the runtime has none. */
export async function createChaCha20Poly1305Pool(key: Uint8Array): Promise<ChaCha20Poly1305Pool | undefined> {
  if (!(await hasChaCha20Poly1305Pool())) return undefined;
  const k = await importKey(key);
  const s = subtle as Subtle;
  return {
    async seal(nonce, plaintext) {
      return new Uint8Array(await s.encrypt({ name: ALGORITHM, iv: nonce }, k, plaintext));
    },
    async open(nonce, sealed) {
      if (sealed.length < 16) return null;
      try {
        return new Uint8Array(await s.decrypt({ name: ALGORITHM, iv: nonce }, k, sealed));
      } catch {
        return null;
      }
    },
  };
}
