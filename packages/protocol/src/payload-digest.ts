/**
 * The digest of a stored file's age payload that its owner signs (docs/PROTOCOL.md §15.4,
 * file-seal.ts): a hash chain over the payload's STREAM chunks as stored (age.md "Payload": the
 * 16-byte nonce, then chunks of 64 KiB of ciphertext + 16-byte tag, the last one shorter):
 *
 *     d_0     = SHA-256("Blindrelay_FilePayload_v1" ‖ 0x00 ‖ nonce[16])
 *     d_{i+1} = SHA-256(d_i ‖ SHA-256(chunk_i))        chunk_i: ciphertext ‖ tag, as stored
 *     digest  = d_n                                    n: the number of chunks
 *
 * A chain rather than one hash over the whole payload so that it is computed in pieces of any size
 * while the payload is encrypted or downloaded, and so that an interrupted upload can resume it
 * from a chunk boundary with 32 bytes of state (kept in the profile with the upload). A collision
 * of two chains is a SHA-256 collision (Merkle–Damgård: every step hashes 64 bytes, `d_0` hashes
 * 42), and the payload size, signed beside the digest, fixes n.
 *
 * It covers the ciphertext, not only the chunk tags: Poly1305 is not collision resistant for
 * whoever knows its key, and every reader of a file knows its file key, so a reader could build
 * other chunks with the same tags.
 */

import { ENCRYPTED_CHUNK_BYTES, PAYLOAD_NONCE_BYTES } from './age/stream.js';
import { concat, utf8 } from './bytes.js';
import { InvalidArgumentError } from './errors.js';
import type { Primitives } from './primitives/types.js';

export const PAYLOAD_DIGEST_LABEL = 'Blindrelay_FilePayload_v1';
export const PAYLOAD_DIGEST_BYTES = 32;

/** The chain before chunk `chunk` (`d_chunk`): enough to go on hashing from that chunk's first byte. */
export interface PayloadDigestState {
  readonly chunk: number;
  readonly state: Uint8Array;
}

export class PayloadDigest {
  /** `d_i` once the nonce was hashed; null before. */
  #state: Uint8Array | null;
  #chunk: number;
  readonly #nonce = new Uint8Array(PAYLOAD_NONCE_BYTES);
  #nonceFill = 0;
  /** The part of a chunk received so far (pieces rarely end on chunk boundaries). */
  readonly #buf = new Uint8Array(ENCRYPTED_CHUNK_BYTES);
  #fill = 0;
  #done = false;

  private constructor(
    private readonly p: Primitives,
    at: PayloadDigestState | null,
  ) {
    this.#state = at ? at.state.slice() : null;
    this.#chunk = at ? at.chunk : 0;
  }

  /** A digest of a whole payload: feed it from its first byte (the nonce). */
  static create(p: Primitives): PayloadDigest {
    return new PayloadDigest(p, null);
  }

  /** Go on from a checkpoint: feed the payload from the first byte of chunk `at.chunk`. */
  static resume(p: Primitives, at: PayloadDigestState): PayloadDigest {
    if (!Number.isSafeInteger(at.chunk) || at.chunk < 0) throw new InvalidArgumentError('payload digest: bad chunk index');
    if (!(at.state instanceof Uint8Array) || at.state.length !== PAYLOAD_DIGEST_BYTES) throw new InvalidArgumentError('payload digest: bad state');
    return new PayloadDigest(p, at);
  }

  /** The next bytes of the payload, in order. */
  async update(bytes: Uint8Array): Promise<void> {
    if (this.#done) throw new InvalidArgumentError('payload digest already finished');
    let rest = bytes;
    if (this.#state === null) {
      const n = Math.min(PAYLOAD_NONCE_BYTES - this.#nonceFill, rest.length);
      this.#nonce.set(rest.subarray(0, n), this.#nonceFill);
      this.#nonceFill += n;
      rest = rest.subarray(n);
      if (this.#nonceFill < PAYLOAD_NONCE_BYTES) return;
      this.#state = await this.p.sha256(concat(utf8(PAYLOAD_DIGEST_LABEL), Uint8Array.of(0), this.#nonce));
    }
    if (this.#fill > 0) {
      const n = Math.min(ENCRYPTED_CHUNK_BYTES - this.#fill, rest.length);
      this.#buf.set(rest.subarray(0, n), this.#fill);
      this.#fill += n;
      rest = rest.subarray(n);
      if (this.#fill < ENCRYPTED_CHUNK_BYTES) return;
      await this.#step(this.#buf);
      this.#fill = 0;
    }
    // Whole chunks straight from the input (no copy); a full last chunk is hashed here too, as its
    // position alone decides where it ends.
    while (rest.length >= ENCRYPTED_CHUNK_BYTES) {
      await this.#step(rest.subarray(0, ENCRYPTED_CHUNK_BYTES));
      rest = rest.subarray(ENCRYPTED_CHUNK_BYTES);
    }
    if (rest.length > 0) {
      this.#buf.set(rest, 0);
      this.#fill = rest.length;
    }
  }

  async #step(chunk: Uint8Array): Promise<void> {
    const h = await this.p.sha256(chunk);
    this.#state = await this.p.sha256(concat(this.#state as Uint8Array, h));
    this.#chunk++;
  }

  /** The chain before the next chunk; only between chunks (after the nonce, nothing of a chunk pending). */
  checkpoint(): PayloadDigestState {
    if (this.#state === null || this.#fill > 0 || this.#done) throw new InvalidArgumentError('payload digest: not at a chunk boundary');
    return { chunk: this.#chunk, state: this.#state.slice() };
  }

  /** The digest of everything fed (the bytes left over are the last chunk). */
  async finish(): Promise<Uint8Array> {
    if (this.#done) throw new InvalidArgumentError('payload digest already finished');
    if (this.#state === null) throw new InvalidArgumentError('payload digest: shorter than the payload nonce');
    if (this.#fill > 0) await this.#step(this.#buf.subarray(0, this.#fill));
    this.#fill = 0;
    this.#done = true;
    return this.#state.slice();
  }
}
