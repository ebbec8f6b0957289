/**
 * The age payload (age.md "Payload"): a 16-byte nonce, then the plaintext in 64 KiB chunks, each
 * sealed with ChaCha20-Poly1305 under
 *
 *     payload key = HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload")
 *
 * and the 12-byte STREAM nonce `counter (11 bytes, big endian) || last flag (0x01 final, else 0x00)`.
 * The final chunk may be short but is empty only when the whole payload is empty.
 *
 * Both directions work one piece at a time with constant memory (one chunk of buffer): feed
 * bytes with `push(data)`, finish with `push(data, true)`. The concatenation of the outputs is
 * the payload (encryptor) or the plaintext (decryptor). The decryptor releases only plaintext
 * that authenticated; an error at the end still means the whole payload must be rejected.
 */
import { concat, utf8, wipe } from '../bytes.js';
import { InvalidArgumentError } from '../errors.js';
import type { Primitives } from '../primitives/types.js';
import { AgeHeaderError, AgePayloadError } from './errors.js';
import { FILE_KEY_BYTES } from './header.js';

export const PAYLOAD_LABEL = 'payload';
export const PAYLOAD_NONCE_BYTES = 16;
/** age.md: "The payload is split in chunks of 64 KiB". */
export const CHUNK_BYTES = 64 * 1024;
const TAG_BYTES = 16;
export const ENCRYPTED_CHUNK_BYTES = CHUNK_BYTES + TAG_BYTES;

export interface PayloadStream {
  /** Feed the next bytes; `last` marks the end of input. Returns the output produced so far. */
  push(data: Uint8Array, last?: boolean): Promise<Uint8Array>;
}

export interface PayloadEncryptor extends PayloadStream {
  readonly nonce: Uint8Array;
}

export async function payloadKey(p: Primitives, fileKey: Uint8Array, nonce: Uint8Array): Promise<Uint8Array> {
  if (fileKey.length !== FILE_KEY_BYTES) throw new InvalidArgumentError('file key must be 16 bytes');
  return p.hkdfSha256(fileKey, nonce, utf8(PAYLOAD_LABEL), 32);
}

/** STREAM nonce: 11-byte big-endian chunk counter, then 0x01 for the final chunk, 0x00 otherwise. */
function chunkNonce(counter: number, last: boolean): Uint8Array {
  if (counter > Number.MAX_SAFE_INTEGER) throw new AgePayloadError('chunk counter overflow');
  const n = new Uint8Array(12);
  let c = counter;
  for (let i = 10; i >= 0 && c > 0; i--) {
    n[i] = c % 256;
    c = Math.floor(c / 256);
  }
  n[11] = last ? 1 : 0;
  return n;
}

/** A chunk-at-a-time payload encryptor. The first output starts with the 16-byte nonce. */
export async function createPayloadEncryptor(
  p: Primitives,
  fileKey: Uint8Array,
  nonce: Uint8Array = p.randomBytes(PAYLOAD_NONCE_BYTES),
): Promise<PayloadEncryptor> {
  if (nonce.length !== PAYLOAD_NONCE_BYTES) throw new InvalidArgumentError('payload nonce must be 16 bytes');
  const key = await payloadKey(p, fileKey, nonce);
  const buf = new Uint8Array(CHUNK_BYTES);
  let fill = 0;
  let counter = 0;
  let started = false;
  let done = false;
  const seal = (chunk: Uint8Array, last: boolean) => p.chacha20Poly1305Seal(key, chunkNonce(counter++, last), chunk);
  return {
    nonce: nonce.slice(),
    async push(data, last = false) {
      if (done) throw new InvalidArgumentError('payload encryptor already finished');
      const out: Uint8Array[] = [];
      if (!started) {
        out.push(nonce.slice());
        started = true;
      }
      let i = 0;
      while (i < data.length) {
        // A full buffer is sealed as non-final only once more input shows it is not the last chunk.
        if (fill === CHUNK_BYTES) {
          out.push(await seal(buf, false));
          fill = 0;
        }
        if (fill === 0 && data.length - i > CHUNK_BYTES) {
          out.push(await seal(data.subarray(i, i + CHUNK_BYTES), false));
          i += CHUNK_BYTES;
          continue;
        }
        const n = Math.min(CHUNK_BYTES - fill, data.length - i);
        buf.set(data.subarray(i, i + n), fill);
        fill += n;
        i += n;
      }
      if (last) {
        // Non-empty unless the whole payload is empty: the buffer keeps >= 1 byte until now.
        out.push(await seal(buf.subarray(0, fill), true));
        done = true;
        wipe(buf, key);
      }
      return out.length === 1 ? (out[0] as Uint8Array) : concat(...out);
    },
  };
}

/**
 * A chunk-at-a-time payload decryptor; input starts with the payload nonce. Each chunk's
 * plaintext is released once it authenticated. Throws AgePayloadError on a bad tag, truncation,
 * a missing or empty final chunk, or data after the final chunk; the decryptor is then unusable.
 */
export function createPayloadDecryptor(p: Primitives, fileKey: Uint8Array): PayloadStream {
  if (fileKey.length !== FILE_KEY_BYTES) throw new InvalidArgumentError('file key must be 16 bytes');
  const nonce = new Uint8Array(PAYLOAD_NONCE_BYTES);
  let nonceFill = 0;
  let key: Uint8Array | undefined;
  const buf = new Uint8Array(ENCRYPTED_CHUNK_BYTES);
  let fill = 0;
  let counter = 0;
  let state: 'open' | 'done' | 'failed' = 'open';

  const fail = (message: string): never => {
    state = 'failed';
    if (key) wipe(key);
    throw new AgePayloadError(message);
  };
  const open = (k: Uint8Array, chunk: Uint8Array, last: boolean) => p.chacha20Poly1305Open(k, chunkNonce(counter, last), chunk);

  /** A full chunk followed by more input: it must be a non-final chunk. */
  async function openMiddle(k: Uint8Array, chunk: Uint8Array, out: Uint8Array[]): Promise<void> {
    const plain = await open(k, chunk, false);
    if (plain) {
      counter++;
      out.push(plain);
      return;
    }
    const final = await open(k, chunk, true);
    if (!final) fail('chunk failed to authenticate');
    // An authentic final chunk followed by more data: released (as the reference reader does), then rejected.
    out.push(final as Uint8Array);
    fail('data after the final chunk');
  }

  /** The input ended: what is buffered must be the final chunk. */
  async function openLast(k: Uint8Array, chunk: Uint8Array, out: Uint8Array[]): Promise<void> {
    if (chunk.length < TAG_BYTES) fail(chunk.length === 0 && counter > 0 ? 'missing final chunk' : 'truncated chunk');
    const plain = await open(k, chunk, true);
    if (!plain) {
      // A full, authentic non-final chunk at the end: the stream was cut at a chunk boundary.
      const middle = chunk.length === ENCRYPTED_CHUNK_BYTES ? await open(k, chunk, false) : null;
      if (middle) out.push(middle);
      fail(middle ? 'missing final chunk' : 'final chunk failed to authenticate');
    }
    if ((plain as Uint8Array).length === 0 && counter > 0) fail('empty final chunk');
    out.push(plain as Uint8Array);
  }

  return {
    async push(data, last = false) {
      if (state !== 'open') throw new AgePayloadError(state === 'done' ? 'data after the final chunk' : 'decryptor failed earlier');
      const out: Uint8Array[] = [];
      try {
        await step(data, last, out);
      } catch (e) {
        // Plaintext that authenticated in this call before the failure travels on the error.
        if (e instanceof AgePayloadError) e.released = concat(...out);
        throw e;
      }
      return out.length === 1 ? (out[0] as Uint8Array) : concat(...out);
    },
  };

  async function step(data: Uint8Array, last: boolean, out: Uint8Array[]): Promise<void> {
    let i = 0;
    if (!key) {
      const n = Math.min(PAYLOAD_NONCE_BYTES - nonceFill, data.length);
      nonce.set(data.subarray(0, n), nonceFill);
      nonceFill += n;
      i = n;
      if (nonceFill === PAYLOAD_NONCE_BYTES) key = await payloadKey(p, fileKey, nonce);
    }
    while (key && i < data.length) {
      if (fill === ENCRYPTED_CHUNK_BYTES) {
        await openMiddle(key, buf, out);
        fill = 0;
      }
      if (fill === 0 && data.length - i > ENCRYPTED_CHUNK_BYTES) {
        await openMiddle(key, data.subarray(i, i + ENCRYPTED_CHUNK_BYTES), out);
        i += ENCRYPTED_CHUNK_BYTES;
        continue;
      }
      const n = Math.min(ENCRYPTED_CHUNK_BYTES - fill, data.length - i);
      buf.set(data.subarray(i, i + n), fill);
      fill += n;
      i += n;
    }
    if (last) {
      // The CCTV vectors class a missing or short payload nonce as a header failure.
      if (!key) {
        state = 'failed';
        throw new AgeHeaderError('missing payload nonce');
      }
      await openLast(key, buf.subarray(0, fill), out);
      state = 'done';
      wipe(key, buf);
    }
  }
}
