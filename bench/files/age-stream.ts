// Standalone age file encryptor/decryptor over our protocol package, disk to disk with constant
// memory. Run as its own process so its peak RSS and wall time can be measured like the age CLI's
// (bench/files.ts bundles it first).
//
//   age-stream encrypt RECIPIENT IN OUT     (RECIPIENT: age1…)
//   age-stream decrypt KEYFILE IN OUT       (KEYFILE: age-keygen format)
//
// The pipeline: the input is read in blocks of whole chunks (1 MiB of plaintext, or 16 sealed
// chunks) into two buffers in turn; each block goes to the payload encryptor's `sealInto` /
// decryptor's `openInto`, which on Node 24 puts all its chunks on libuv's thread pool at once
// (WebCrypto ChaCha20-Poly1305), so both cores work, and copies each chunk's output into one of
// OUT_BLOCKS output buffers as it comes. Each output block goes to the file with one positional
// write while the next blocks are read and sealed; a buffer is reused once its write completed,
// so memory stays bounded however long the disk stalls, and the per-chunk buffers die young. A
// full block's last chunk waits for the next read: only the end of input tells whether it is the
// final chunk.
//
// Decryption writes OUT.partial and renames it to OUT only once the whole payload authenticated.
import { close, open, read, rename, unlink, write } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import {
  CHUNK_BYTES,
  createPayloadDecryptor,
  createPayloadEncryptor,
  ENCRYPTED_CHUNK_BYTES,
  headerLength,
  PAYLOAD_NONCE_BYTES,
  parseHeader,
  unwrapHeader,
  wrapFileKey,
  X25519Identity,
  X25519Recipient,
} from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';

const BLOCK_CHUNKS = 16;
/** Output blocks: how far sealing may run ahead of the disk. */
const OUT_BLOCKS = 4;
const MAX_HEADER_BYTES = 1 << 20;
const base = createNodePrimitives();
const p = process.env.NOPOOL ? { ...base, chacha20Poly1305Pool: undefined } : base;

const openAsync = promisify(open);
const closeAsync = promisify(close);
const unlinkAsync = promisify(unlink);
const renameAsync = promisify(rename);

// node:crypto returns each chunk's output in a fresh 64 KiB buffer outside the V8 heap, copied into
// the block at once and garbage from then on. V8 frees such buffers only at a collection, which
// the heap itself (a few small objects per chunk) asks for only after tens of MB. bench/files.ts
// runs this with --expose-gc: a young-generation collection after each block (the block's buffers
// are all dead by then, so none is promoted to the old generation) keeps the peak RSS flat.
const gc = (globalThis as { gc?: (o?: { type: 'minor' }) => void }).gc;

/**
 * glibc gives the top of its heap back to the kernel whenever more than M_TRIM_THRESHOLD (128 KiB)
 * of it is free, so each block's freed chunk buffers would be returned, and the next block's
 * faulted in and zeroed again (~3,000 brk calls for 512 MiB, most of the main thread's system
 * time). Freeing one mmap'ed buffer raises glibc's dynamic thresholds to its size (mallopt(3),
 * M_MMAP_THRESHOLD): an 8 MiB buffer, allocated and collected once at start-up, does that.
 */
function raiseMallocTrimThreshold(): void {
  if (!gc) return;
  let big: Uint8Array | undefined = new Uint8Array(8 << 20);
  big[0] = 1;
  big = undefined;
  gc();
}

/** Read into `buf` at `position` until it is full or the file ends; returns the bytes read. */
function readFull(fd: number, buf: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const more = () =>
      read(fd, buf, got, buf.length - got, position + got, (err, n) => {
        if (err) return reject(err);
        got += n;
        if (n === 0 || got === buf.length) resolve(got);
        else more();
      });
    more();
  });
}

function writeFull(fd: number, buf: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const more = () =>
      write(fd, buf, done, buf.length - done, position + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (done === buf.length) resolve();
        else more();
      });
    more();
  });
}

/** Positional writes in order, one at a time (one file: more in flight would only contend for its lock). */
class Writer {
  private position = 0;
  private tail: Promise<void> = Promise.resolve();
  constructor(private readonly fd: number) {}

  /** Queue `bytes`, which must stay untouched until the returned promise (its write) settles. */
  write(bytes: Uint8Array): Promise<void> {
    const position = this.position;
    this.position += bytes.length;
    this.tail = this.tail.then(() => writeFull(this.fd, bytes, position));
    return this.tail;
  }

  flush(): Promise<void> {
    return this.tail;
  }
}

/**
 * Read `fd` from `start` in blocks of `block` bytes (whole chunks of `chunk` bytes) and queue on
 * `w` what `transform(data, out, last)` writes to `out` (an output block of `outBytes`; it returns
 * the length). The transform's output never shares memory with its input, so an input buffer is
 * read into again as soon as its block was transformed; an output block is reused once written.
 * `last` comes only with the end of input: a full block is cut before its last chunk, which is
 * transformed once the next read tells whether input follows.
 */
async function pipeline(
  fd: number,
  start: number,
  block: number,
  chunk: number,
  outBytes: number,
  w: Writer,
  transform: (data: Uint8Array, out: Uint8Array, last: boolean) => Promise<number>,
): Promise<void> {
  const inputs = [new Uint8Array(block), new Uint8Array(block)];
  const outputs = Array.from({ length: OUT_BLOCKS }, () => new Uint8Array(outBytes));
  const written: Promise<void>[] = outputs.map(() => Promise.resolve());
  let position = start;
  let next = readFull(fd, inputs[0] as Uint8Array, position);
  try {
    for (let k = 0; ; k++) {
      const data = inputs[k % 2] as Uint8Array;
      const j = k % OUT_BLOCKS;
      const out = outputs[j] as Uint8Array;
      await written[j];
      const n = await next;
      position += n;
      let length: number;
      let last = n < block;
      if (last) {
        length = await transform(data.subarray(0, n), out, true);
      } else {
        next = readFull(fd, inputs[(k + 1) % 2] as Uint8Array, position);
        length = await transform(data.subarray(0, block - chunk), out, false);
        last = (await next) === 0;
        length += await transform(data.subarray(block - chunk), out.subarray(length), last);
      }
      written[j] = w.write(out.subarray(0, length));
      gc?.({ type: 'minor' });
      if (last) return;
    }
  } catch (e) {
    // Let the read ahead and the queued writes finish before the caller closes the files.
    await Promise.allSettled([next, ...written]);
    throw e;
  }
}

async function encrypt(recipient: string, input: string, output: string): Promise<void> {
  const { fileKey, header } = await wrapFileKey(p, [X25519Recipient.parse(recipient)]);
  const enc = await createPayloadEncryptor(p, fileKey);
  fileKey.fill(0);
  const fin = await openAsync(input, 'r');
  const fout = await openAsync(output, 'w');
  try {
    const w = new Writer(fout);
    await w.write(header);
    const out = PAYLOAD_NONCE_BYTES + BLOCK_CHUNKS * ENCRYPTED_CHUNK_BYTES;
    await pipeline(fin, 0, BLOCK_CHUNKS * CHUNK_BYTES, CHUNK_BYTES, out, w, (data, buf, last) => enc.sealInto(data, buf, last));
    await w.flush();
  } finally {
    await closeAsync(fin);
    await closeAsync(fout);
  }
}

async function decrypt(keyFile: string, input: string, output: string): Promise<void> {
  const lines = (await readFile(keyFile, 'utf8')).split('\n').map((l) => l.trim());
  const identities = await Promise.all(lines.filter((l) => l.startsWith('AGE-SECRET-KEY-')).map((l) => X25519Identity.parse(p, l)));
  const fin = await openAsync(input, 'r');
  const partial = `${output}.partial`;
  const fout = await openAsync(partial, 'w');
  let fileKey: Uint8Array | undefined;
  let ok = false;
  try {
    // The header and the payload nonce after it: read a growing prefix until both are in.
    let head = new Uint8Array(0);
    let n = -1;
    while (n < 0 || head.length < n + PAYLOAD_NONCE_BYTES) {
      if (head.length >= MAX_HEADER_BYTES) throw new Error('age header too large');
      const more = new Uint8Array(Math.max(4096, head.length));
      const got = await readFull(fin, more, head.length);
      if (got === 0) throw new Error(n < 0 ? 'truncated age header' : 'missing payload nonce');
      const joined = new Uint8Array(head.length + got);
      joined.set(head);
      joined.set(more.subarray(0, got), head.length);
      head = joined;
      n = headerLength(head);
    }
    fileKey = await unwrapHeader(p, parseHeader(head), identities);
    const dec = createPayloadDecryptor(p, fileKey, { nonce: head.subarray(n, n + PAYLOAD_NONCE_BYTES) });
    const w = new Writer(fout);
    const block = BLOCK_CHUNKS * ENCRYPTED_CHUNK_BYTES;
    await pipeline(fin, n + PAYLOAD_NONCE_BYTES, block, ENCRYPTED_CHUNK_BYTES, block, w, (data, buf, last) => dec.openInto(data, buf, last));
    await w.flush();
    ok = true;
  } finally {
    fileKey?.fill(0);
    await closeAsync(fin);
    await closeAsync(fout);
    if (!ok) await unlinkAsync(partial).catch(() => undefined);
  }
  await renameAsync(partial, output);
}

async function main(argv: string[]): Promise<void> {
  raiseMallocTrimThreshold();
  const [mode, key, input, output] = argv;
  if (!key || !input || !output || (mode !== 'encrypt' && mode !== 'decrypt')) {
    throw new Error('usage: age-stream encrypt RECIPIENT IN OUT | age-stream decrypt KEYFILE IN OUT');
  }
  await (mode === 'encrypt' ? encrypt(key, input, output) : decrypt(key, input, output));
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`age-stream: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
