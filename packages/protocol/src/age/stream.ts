/**
 * The age payload (age.md "Payload"): a 16-byte nonce, then the plaintext in 64 KiB chunks, each
 * sealed with ChaCha20-Poly1305 under
 *
 *     payload key = HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload")
 *
 * and the 12-byte STREAM nonce `counter (11 bytes, big endian) || last flag (0x01 final, else 0x00)`.
 * The final chunk may be short but is empty only when the whole payload is empty.
 *
 * Both directions work with constant memory, two ways:
 *  - `push(data)` … `push(data, true)`: any split of the input; one chunk of buffer. The
 *    concatenation of the outputs is the payload (encryptor) or the plaintext (decryptor).
 *  - `seal(plaintext, last)` / `open(sealed, last)`: whole chunks straight from the caller's buffer,
 *    no buffering and no joining; the output comes as parts for a vectored write. With primitives
 *    that have a synchronous ChaCha20-Poly1305 (node), a batch costs one await, not one per chunk.
 * The decryptor releases only plaintext that authenticated; an error at the end still means the
 * whole payload must be rejected.
 *
 * Resuming: chunk i's ciphertext depends only on the payload key, i and whether it is the final
 * chunk, so an encryptor given the original nonce and `startChunk: N` produces the payload from
 * byte `payloadOffsetOfChunk(N)` on (a resumed upload); a decryptor given the nonce and
 * `startChunk: N` takes the payload from that byte on (a resumed download).
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

export interface PayloadStreamOptions {
  /**
   * The index of the first chunk to process (default 0). Above 0 the payload nonce must be given,
   * and the encryptor's output / the decryptor's input starts at `payloadOffsetOfChunk(startChunk)`
   * with no nonce in front; the plaintext starts at `plaintextOffsetOfChunk(startChunk)`.
   */
  startChunk?: number;
}

export interface PayloadEncryptor extends PayloadStream {
  readonly nonce: Uint8Array;
  /** The index of the next chunk this encryptor will seal. */
  readonly nextChunk: number;
  /**
   * Seal whole chunks of `plaintext` without buffering it: it is cut into 64 KiB chunks, all
   * non-final except, when `last`, the final one, which may be short (or empty, when it is the
   * payload's only chunk). Without `last` the length must be a multiple of CHUNK_BYTES. Returns the
   * output in order as parts: the nonce if the output starts the payload, then the sealed chunks
   * (each as its ciphertext and its tag where the primitives give them apart). The parts never alias `plaintext`, which may be reused at once. Nothing may
   * be buffered by `push` when this is called.
   */
  seal(plaintext: Uint8Array, last?: boolean): Promise<Uint8Array[]>;
  /**
   * `seal` into `out` from its start instead of into parts, so the caller can reuse one buffer.
   * Returns the number of bytes written: `sealedLength(plaintext.length)`, plus PAYLOAD_NONCE_BYTES
   * when the output starts the payload. In place: `out` may share memory with `plaintext` if it
   * starts at least PAYLOAD_NONCE_BYTES + 16 bytes per chunk before it (each chunk is sealed before
   * its output is stored, and the output stays behind the input not yet read).
   */
  sealInto(plaintext: Uint8Array, out: Uint8Array, last?: boolean): Promise<number>;
}

export interface PayloadDecryptorOptions extends PayloadStreamOptions {
  /** The payload nonce, when known already (resuming): the input then starts after it. */
  nonce?: Uint8Array;
}

export interface PayloadDecryptor extends PayloadStream {
  /** The index of the next chunk this decryptor will open. */
  readonly nextChunk: number;
  /**
   * Open whole sealed chunks without buffering them: `sealed` is cut into chunks of
   * ENCRYPTED_CHUNK_BYTES, all non-final (more payload follows them) except, when `last`, the final
   * one, which may be short. Without `last` the length must be a multiple of ENCRYPTED_CHUNK_BYTES.
   * Returns the plaintext of each chunk in order; the parts never alias `sealed`. The nonce must be
   * known (given as an option, or pushed) and nothing buffered by `push`. Throws like `push`, with
   * the plaintext that authenticated in this call before the failure on the error's `released`.
   */
  open(sealed: Uint8Array, last?: boolean): Promise<Uint8Array[]>;
  /**
   * `open` into `out` from its start instead of into parts, so the caller can reuse one buffer.
   * Returns the number of plaintext bytes written (at most `sealed.length`); on failure, what
   * authenticated before it is also on the error's `released`. In place: `out` may start where
   * `sealed` starts, or before it (plaintext is shorter than its sealed chunk).
   */
  openInto(sealed: Uint8Array, out: Uint8Array, last?: boolean): Promise<number>;
}

/** Where sealed or opened bytes go: a list of parts, or a caller's buffer. */
interface Sink {
  push(part: Uint8Array): void;
  /** Everything pushed so far, as one array (for AgePayloadError.released). */
  joined(): Uint8Array;
}

function partsSink(parts: Uint8Array[]): Sink {
  return { push: (part) => parts.push(part), joined: () => concat(...parts) };
}

class BufferSink implements Sink {
  length = 0;
  constructor(private readonly out: Uint8Array) {}
  push(part: Uint8Array): void {
    if (this.length + part.length > this.out.length) throw new InvalidArgumentError('output buffer too small');
    this.out.set(part, this.length);
    this.length += part.length;
  }
  joined(): Uint8Array {
    return this.out.slice(0, this.length);
  }
}

export async function payloadKey(p: Primitives, fileKey: Uint8Array, nonce: Uint8Array): Promise<Uint8Array> {
  if (fileKey.length !== FILE_KEY_BYTES) throw new InvalidArgumentError('file key must be 16 bytes');
  return p.hkdfSha256(fileKey, nonce, utf8(PAYLOAD_LABEL), 32);
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a non-negative safe integer`);
}

/** The number of chunks of a plaintext of `plaintextLength` bytes: an empty one still has one (empty) chunk. */
export function chunkCount(plaintextLength: number): number {
  checkSize(plaintextLength, 'plaintext size');
  return Math.max(1, Math.ceil(plaintextLength / CHUNK_BYTES));
}

/** The age payload's size in bytes, the 16-byte nonce included, for `plaintextLength` bytes of plaintext. */
export function payloadSize(plaintextLength: number): number {
  return PAYLOAD_NONCE_BYTES + sealedLength(plaintextLength);
}

/**
 * The sealed size of `plaintextLength` bytes of whole chunks (the last one may be short): one
 * 16-byte tag per chunk, at least one chunk. The payload nonce is not included.
 */
export function sealedLength(plaintextLength: number): number {
  return plaintextLength + chunkCount(plaintextLength) * TAG_BYTES;
}

/** The plaintext size for a payload of `payloadBytes` bytes (nonce included); throws if no plaintext has that payload size. */
export function plaintextSize(payloadBytes: number): number {
  checkSize(payloadBytes, 'payload size');
  const body = payloadBytes - PAYLOAD_NONCE_BYTES;
  const chunks = Math.ceil(body / ENCRYPTED_CHUNK_BYTES);
  const lastChunk = body - (chunks - 1) * ENCRYPTED_CHUNK_BYTES;
  // At least one chunk, and only a payload's only chunk may be empty (just a tag).
  if (body < TAG_BYTES || lastChunk < (chunks > 1 ? TAG_BYTES + 1 : TAG_BYTES)) throw new InvalidArgumentError('no plaintext has this payload size');
  return body - chunks * TAG_BYTES;
}

/** The payload offset of chunk `index`'s first byte (the nonce comes first). */
export function payloadOffsetOfChunk(index: number): number {
  checkSize(index, 'chunk index');
  return PAYLOAD_NONCE_BYTES + index * ENCRYPTED_CHUNK_BYTES;
}

/** The plaintext offset where chunk `index` starts. */
export function plaintextOffsetOfChunk(index: number): number {
  checkSize(index, 'chunk index');
  return index * CHUNK_BYTES;
}

/**
 * The index of the chunk that payload byte `offset` belongs to (the nonce counts as chunk 0's).
 * To resume an upload of which the first `offset` bytes arrived: start at this chunk, whose output
 * begins at `payloadOffsetOfChunk` of it (or at 0, the nonce, for chunk 0).
 */
export function chunkIndexOfPayloadOffset(offset: number): number {
  checkSize(offset, 'payload offset');
  return offset < PAYLOAD_NONCE_BYTES ? 0 : Math.floor((offset - PAYLOAD_NONCE_BYTES) / ENCRYPTED_CHUNK_BYTES);
}

function startChunkOf(options: PayloadStreamOptions): number {
  const start = options.startChunk ?? 0;
  checkSize(start, 'start chunk');
  return start;
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

/**
 * A chunk-at-a-time payload encryptor. Output from chunk 0 starts with the 16-byte nonce; with
 * `startChunk: N` > 0 (resuming: `nonce` must be the original one) it starts at chunk N.
 */
export async function createPayloadEncryptor(
  p: Primitives,
  fileKey: Uint8Array,
  nonce?: Uint8Array,
  options: PayloadStreamOptions = {},
): Promise<PayloadEncryptor> {
  const start = startChunkOf(options);
  if (!nonce && start > 0) throw new InvalidArgumentError('resuming at a chunk needs the payload nonce');
  nonce ??= p.randomBytes(PAYLOAD_NONCE_BYTES);
  if (nonce.length !== PAYLOAD_NONCE_BYTES) throw new InvalidArgumentError('payload nonce must be 16 bytes');
  const payloadNonce = nonce.slice();
  const key = await payloadKey(p, fileKey, payloadNonce);
  const sealSync = p.chacha20Poly1305SealSync;
  const buf = new Uint8Array(CHUNK_BYTES);
  let fill = 0;
  let counter = start;
  let started = start > 0;
  let done = false;

  function begin(out: Sink): void {
    if (done) throw new InvalidArgumentError('payload encryptor already finished');
    if (!started) {
      out.push(payloadNonce);
      started = true;
    }
  }

  /** Seal one chunk into `out` as ciphertext and tag (or, on the async path, as one sealed part). */
  async function sealOne(chunk: Uint8Array, last: boolean, out: Sink): Promise<void> {
    const n = chunkNonce(counter, last);
    if (sealSync) {
      const [body, tag] = sealSync(key, n, chunk);
      out.push(body);
      out.push(tag);
    } else {
      out.push(await p.chacha20Poly1305Seal(key, n, chunk));
    }
    counter++;
  }

  /** Seal whole chunks of `data` (see PayloadEncryptor.seal); synchronous when sealSync exists. */
  function sealChunks(data: Uint8Array, last: boolean, out: Sink): Promise<void> | undefined {
    const end = last ? Math.max(1, Math.ceil(data.length / CHUNK_BYTES)) : data.length / CHUNK_BYTES;
    if (sealSync) {
      for (let c = 0; c < end; c++) {
        const [body, tag] = sealSync(key, chunkNonce(counter++, last && c === end - 1), data.subarray(c * CHUNK_BYTES, (c + 1) * CHUNK_BYTES));
        out.push(body);
        out.push(tag);
      }
      return undefined;
    }
    return (async () => {
      for (let c = 0; c < end; c++) await sealOne(data.subarray(c * CHUNK_BYTES, (c + 1) * CHUNK_BYTES), last && c === end - 1, out);
    })();
  }

  async function sealWhole(plaintext: Uint8Array, last: boolean, out: Sink): Promise<void> {
    if (fill > 0) throw new InvalidArgumentError('seal() with input buffered by push()');
    if (!last && plaintext.length % CHUNK_BYTES !== 0) throw new InvalidArgumentError('seal() without last needs whole chunks');
    // Only a payload's only chunk may be empty: otherwise the previous chunk was the final one.
    if (last && plaintext.length === 0 && counter > 0) throw new InvalidArgumentError('the final chunk must not be empty: seal the previous chunk as last');
    begin(out);
    const pending = sealChunks(plaintext, last, out);
    if (pending) await pending;
    if (last) finish();
  }

  function finish(): void {
    done = true;
    wipe(buf, key);
  }

  return {
    nonce: payloadNonce.slice(),
    get nextChunk() {
      return counter;
    },
    async seal(plaintext, last = false) {
      const parts: Uint8Array[] = [];
      // The nonce part is handed out: a copy, so the caller cannot change ours.
      await sealWhole(plaintext, last, { push: (part) => parts.push(part === payloadNonce ? part.slice() : part), joined: () => concat(...parts) });
      return parts;
    },
    async sealInto(plaintext, out, last = false) {
      if (out.length < sealedLength(plaintext.length) + (started ? 0 : PAYLOAD_NONCE_BYTES)) throw new InvalidArgumentError('output buffer too small');
      const sink = new BufferSink(out);
      await sealWhole(plaintext, last, sink);
      return sink.length;
    },
    async push(data, last = false) {
      const parts: Uint8Array[] = [];
      const out = partsSink(parts);
      begin(out);
      let i = 0;
      while (i < data.length) {
        // A full buffer is sealed as non-final only once more input shows it is not the last chunk.
        if (fill === CHUNK_BYTES) {
          await sealOne(buf, false, out);
          fill = 0;
        }
        // Straight from the input: every whole chunk that more input follows.
        if (fill === 0 && data.length - i > CHUNK_BYTES) {
          const whole = Math.floor((data.length - i - 1) / CHUNK_BYTES) * CHUNK_BYTES;
          const pending = sealChunks(data.subarray(i, i + whole), false, out);
          if (pending) await pending;
          i += whole;
          continue;
        }
        const n = Math.min(CHUNK_BYTES - fill, data.length - i);
        buf.set(data.subarray(i, i + n), fill);
        fill += n;
        i += n;
      }
      if (last) {
        // Non-empty unless the whole payload is empty: the buffer keeps >= 1 byte until now.
        if (fill === 0 && counter > 0) throw new InvalidArgumentError('the final chunk must not be empty: no plaintext since the last chunk');
        await sealOne(buf.subarray(0, fill), true, out);
        finish();
      }
      // A single part may be the nonce (a push of nothing at the start): never hand out ours.
      if (parts.length !== 1) return concat(...parts);
      const only = parts[0] as Uint8Array;
      return only === payloadNonce ? only.slice() : only;
    },
  };
}

/**
 * A chunk-at-a-time payload decryptor; input starts with the payload nonce unless `options.nonce`
 * gives it (then at chunk `options.startChunk`, default 0). Each chunk's plaintext is released
 * once it authenticated. Throws AgePayloadError on a bad tag, truncation, a missing or empty final
 * chunk, or data after the final chunk; the decryptor is then unusable.
 */
export function createPayloadDecryptor(p: Primitives, fileKey: Uint8Array, options: PayloadDecryptorOptions = {}): PayloadDecryptor {
  if (fileKey.length !== FILE_KEY_BYTES) throw new InvalidArgumentError('file key must be 16 bytes');
  const start = startChunkOf(options);
  if (!options.nonce && start > 0) throw new InvalidArgumentError('resuming at a chunk needs the payload nonce');
  if (options.nonce && options.nonce.length !== PAYLOAD_NONCE_BYTES) throw new InvalidArgumentError('payload nonce must be 16 bytes');
  const nonce = options.nonce ? options.nonce.slice() : new Uint8Array(PAYLOAD_NONCE_BYTES);
  let nonceFill = options.nonce ? PAYLOAD_NONCE_BYTES : 0;
  let key: Uint8Array | undefined;
  const openSync = p.chacha20Poly1305OpenSync;
  const buf = new Uint8Array(ENCRYPTED_CHUNK_BYTES);
  let fill = 0;
  let counter = start;
  let state: 'open' | 'done' | 'failed' = 'open';

  const fail = (message: string): never => {
    state = 'failed';
    if (key) wipe(key);
    throw new AgePayloadError(message);
  };
  const openAs = (k: Uint8Array, chunk: Uint8Array, last: boolean): Uint8Array | null | Promise<Uint8Array | null> =>
    openSync ? openSync(k, chunkNonce(counter, last), chunk) : p.chacha20Poly1305Open(k, chunkNonce(counter, last), chunk);

  /** A full chunk followed by more input: it must be a non-final chunk. Synchronous when openSync exists. */
  function openMiddle(k: Uint8Array, chunk: Uint8Array, out: Sink): Promise<void> | undefined {
    if (openSync) {
      const plain = openSync(k, chunkNonce(counter, false), chunk);
      if (!plain) return middleFailed(k, chunk, out);
      counter++;
      out.push(plain);
      return undefined;
    }
    return (async () => {
      const plain = await p.chacha20Poly1305Open(k, chunkNonce(counter, false), chunk);
      if (!plain) return middleFailed(k, chunk, out);
      counter++;
      out.push(plain);
    })();
  }

  async function middleFailed(k: Uint8Array, chunk: Uint8Array, out: Sink): Promise<void> {
    const final = await openAs(k, chunk, true);
    if (!final) fail('chunk failed to authenticate');
    // An authentic final chunk followed by more data: released (as the reference reader does), then rejected.
    out.push(final as Uint8Array);
    fail('data after the final chunk');
  }

  /** The input ended: `chunk` must be the final chunk. */
  async function openLast(k: Uint8Array, chunk: Uint8Array, out: Sink): Promise<void> {
    if (chunk.length < TAG_BYTES) fail(chunk.length === 0 && counter > 0 ? 'missing final chunk' : 'truncated chunk');
    const plain = await openAs(k, chunk, true);
    if (!plain) {
      // A full, authentic non-final chunk at the end: the stream was cut at a chunk boundary.
      const middle = chunk.length === ENCRYPTED_CHUNK_BYTES ? await openAs(k, chunk, false) : null;
      if (middle) out.push(middle);
      fail(middle ? 'missing final chunk' : 'final chunk failed to authenticate');
    }
    if ((plain as Uint8Array).length === 0 && counter > 0) fail('empty final chunk');
    counter++;
    out.push(plain as Uint8Array);
  }

  async function ensureKey(): Promise<Uint8Array | undefined> {
    if (!key && nonceFill === PAYLOAD_NONCE_BYTES) key = await payloadKey(p, fileKey, nonce);
    return key;
  }

  function finish(k: Uint8Array): void {
    state = 'done';
    wipe(k, buf);
  }

  /** Run `body`, attaching the plaintext that authenticated before a payload failure to the error. */
  async function guarded(out: Sink, body: () => Promise<void>): Promise<void> {
    if (state !== 'open') throw new AgePayloadError(state === 'done' ? 'data after the final chunk' : 'decryptor failed earlier');
    try {
      await body();
    } catch (e) {
      // Plaintext that authenticated in this call before the failure travels on the error.
      if (e instanceof AgePayloadError) e.released = out.joined();
      throw e;
    }
  }

  async function openWhole(sealed: Uint8Array, last: boolean, out: Sink): Promise<void> {
    if (fill > 0) throw new InvalidArgumentError('open() with input buffered by push()');
    if (!last && sealed.length % ENCRYPTED_CHUNK_BYTES !== 0) throw new InvalidArgumentError('open() without last needs whole chunks');
    await guarded(out, async () => {
      const k = await ensureKey();
      if (!k) throw new InvalidArgumentError('open() before the payload nonce');
      const whole = last ? Math.max(0, Math.ceil(sealed.length / ENCRYPTED_CHUNK_BYTES) - 1) : sealed.length / ENCRYPTED_CHUNK_BYTES;
      for (let c = 0; c < whole; c++) {
        const pending = openMiddle(k, sealed.subarray(c * ENCRYPTED_CHUNK_BYTES, (c + 1) * ENCRYPTED_CHUNK_BYTES), out);
        if (pending) await pending;
      }
      if (last) {
        await openLast(k, sealed.subarray(whole * ENCRYPTED_CHUNK_BYTES), out);
        finish(k);
      }
    });
  }

  return {
    get nextChunk() {
      return counter;
    },
    async open(sealed, last = false) {
      const parts: Uint8Array[] = [];
      await openWhole(sealed, last, partsSink(parts));
      return parts;
    },
    async openInto(sealed, out, last = false) {
      if (out.length < sealed.length) throw new InvalidArgumentError('output buffer too small');
      const sink = new BufferSink(out);
      await openWhole(sealed, last, sink);
      return sink.length;
    },
    async push(data, last = false) {
      const parts: Uint8Array[] = [];
      const out = partsSink(parts);
      await guarded(out, () => step(data, last, out));
      return parts.length === 1 ? (parts[0] as Uint8Array) : concat(...parts);
    },
  };

  async function step(data: Uint8Array, last: boolean, out: Sink): Promise<void> {
    let i = 0;
    if (nonceFill < PAYLOAD_NONCE_BYTES) {
      const n = Math.min(PAYLOAD_NONCE_BYTES - nonceFill, data.length);
      nonce.set(data.subarray(0, n), nonceFill);
      nonceFill += n;
      i = n;
    }
    const k = await ensureKey();
    while (k && i < data.length) {
      if (fill === ENCRYPTED_CHUNK_BYTES) {
        const pending = openMiddle(k, buf, out);
        if (pending) await pending;
        fill = 0;
      }
      if (fill === 0 && data.length - i > ENCRYPTED_CHUNK_BYTES) {
        const pending = openMiddle(k, data.subarray(i, i + ENCRYPTED_CHUNK_BYTES), out);
        if (pending) await pending;
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
      if (!k) {
        state = 'failed';
        throw new AgeHeaderError('missing payload nonce');
      }
      await openLast(k, buf.subarray(0, fill), out);
      finish(k);
    }
  }
}
