// Standalone age file encryptor/decryptor over our protocol package, disk to disk with constant
// memory. Run as its own process so its peak RSS and wall time can be measured like the age CLI's
// (bench/files.ts bundles it first).
//
//   age-stream encrypt RECIPIENT IN OUT     (RECIPIENT: age1…)
//   age-stream decrypt KEYFILE IN OUT       (KEYFILE: age-keygen format)
//
// The pipeline: the input's size is taken first, so every chunk's place and which one is final
// are known before anything is read. Blocks of whole chunks (1 MiB of plaintext, or 16 sealed
// chunks) are read READ_AHEAD blocks ahead by libuv's thread pool; the main thread seals or opens
// each in turn (the payload encryptor's `sealInto` / decryptor's `openInto`: one synchronous
// node:crypto call per chunk, no await per chunk) straight into a buffer of the SDK's
// SequentialFileWriter, which writes it with O_DIRECT where the file system allows (past the page
// cache: packages/client/src/sequential-writer.ts says why), one block at a time, while the next
// blocks are read and sealed. Buffers are reused only once consumed or written, so memory stays
// bounded however long the disk stalls. The input must keep its size while it is read: a short
// read, or bytes past the size taken at the start, fail the run.
//
// Decryption writes OUT.partial and renames it to OUT only once the whole payload authenticated.
import { close, fstat, open, read, rename, unlink } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { SequentialFileWriter } from '@blindrelay/client/sequential-writer';
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
const GC_EVERY_BLOCKS = 2;
/** Blocks read ahead of the one being sealed or opened. */
const READ_AHEAD = 2;
const MAX_HEADER_BYTES = 1 << 20;
const p = createNodePrimitives();

// V8 collects garbage after every 64 MB of memory outside its heap unless that memory counts
// toward its global heap limit; each chunk's output is such memory (docs/DECISIONS.md).
if (Number.parseInt(process.versions.node, 10) >= 24) setFlagsFromString('--external-memory-accounted-in-global-limit');

const openAsync = promisify(open);
const fstatAsync = promisify(fstat);
const closeAsync = promisify(close);
const unlinkAsync = promisify(unlink);
const renameAsync = promisify(rename);

// node:crypto returns each chunk's output in a fresh 64 KiB buffer outside the V8 heap, copied into
// the output block at once and garbage from then on. V8 frees such buffers only at a collection,
// which the heap itself (a few small objects per chunk) asks for only after tens of MB. bench/files.ts
// runs this with --expose-gc: a young-generation collection every GC_EVERY_BLOCKS blocks (their
// buffers are all dead by then, so none is promoted to the old generation) keeps the peak RSS
// flat. After every block: 0.25 ms each, ~130 ms per 512 MiB; every 2: ~70 ms; every 4: ~40 ms but
// 3 MB more peak RSS on a 4 GiB file, which the 80 MB budget cannot spare.
const gc = (globalThis as { gc?: (o?: { type: 'minor' }) => void }).gc;

/**
 * glibc gives the top of its heap back to the kernel whenever more than M_TRIM_THRESHOLD (128 KiB)
 * of it is free, so each block's freed chunk buffers would be returned, and the next block's
 * faulted in and zeroed again (~3,000 brk calls for 512 MiB, most of the main thread's system
 * time). Freeing one mmap'ed buffer raises glibc's dynamic thresholds to its size (mallopt(3),
 * M_MMAP_THRESHOLD): a 4 MiB buffer, allocated and collected once at start-up, does that (8 MiB kept
 * 3 MB more freed memory around, measured on a 4 GiB file).
 */
function raiseMallocTrimThreshold(): void {
  if (!gc) return;
  let big: Uint8Array | undefined = new Uint8Array(4 << 20);
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

/**
 * Transform `length` bytes of `fd` from `start`, in blocks of `block` bytes (whole chunks; the last
 * block may be short), into `w`: `transform(data, out, last)` writes its output to `out` and
 * returns the length; `last` marks the block holding the final chunk.
 */
async function pipeline(
  fd: number,
  start: number,
  length: number,
  block: number,
  w: SequentialFileWriter,
  transform: (data: Uint8Array, out: Uint8Array, last: boolean) => Promise<number>,
): Promise<void> {
  const blocks = Math.max(1, Math.ceil(length / block));
  const inputs = Array.from({ length: READ_AHEAD }, () => new Uint8Array(block));
  const reads: Promise<Uint8Array>[] = [];
  const readBlock = async (k: number): Promise<Uint8Array> => {
    const want = Math.min(block, length - k * block);
    const buf = (inputs[k % READ_AHEAD] as Uint8Array).subarray(0, want);
    if ((await readFull(fd, buf, start + k * block)) !== want) throw new Error('input shrank while it was read');
    return buf;
  };
  for (let k = 0; k < Math.min(READ_AHEAD, blocks); k++) reads.push(readBlock(k));
  try {
    for (let k = 0; k < blocks; k++) {
      const data = await (reads[k] as Promise<Uint8Array>);
      const out = await w.next();
      w.commit(await transform(data, out, k === blocks - 1));
      // Its input is consumed: the buffer takes the block READ_AHEAD further on.
      if (k + READ_AHEAD < blocks) reads.push(readBlock(k + READ_AHEAD));
      if (k % GC_EVERY_BLOCKS === GC_EVERY_BLOCKS - 1) gc?.({ type: 'minor' });
    }
    if ((await readFull(fd, new Uint8Array(1), start + length)) !== 0) throw new Error('input grew while it was read');
  } finally {
    // Let the reads ahead finish before the caller closes the file.
    await Promise.allSettled(reads);
  }
}

async function encrypt(recipient: string, input: string, output: string): Promise<void> {
  const { fileKey, header } = await wrapFileKey(p, [X25519Recipient.parse(recipient)]);
  const enc = await createPayloadEncryptor(p, fileKey);
  fileKey.fill(0);
  const fin = await openAsync(input, 'r');
  const w = await SequentialFileWriter.open(output, { blockBytes: PAYLOAD_NONCE_BYTES + BLOCK_CHUNKS * ENCRYPTED_CHUNK_BYTES });
  let ok = false;
  try {
    await w.write(header);
    const { size } = await fstatAsync(fin);
    await pipeline(fin, 0, size, BLOCK_CHUNKS * CHUNK_BYTES, w, (data, buf, last) => enc.sealInto(data, buf, last));
    ok = true;
  } finally {
    await closeAsync(fin);
    await (ok ? w.close() : w.abort());
  }
}

async function decrypt(keyFile: string, input: string, output: string): Promise<void> {
  const lines = (await readFile(keyFile, 'utf8')).split('\n').map((l) => l.trim());
  const identities = await Promise.all(lines.filter((l) => l.startsWith('AGE-SECRET-KEY-')).map((l) => X25519Identity.parse(p, l)));
  const fin = await openAsync(input, 'r');
  const partial = `${output}.partial`;
  const block = BLOCK_CHUNKS * ENCRYPTED_CHUNK_BYTES;
  const w = await SequentialFileWriter.open(partial, { blockBytes: block });
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
    const start = n + PAYLOAD_NONCE_BYTES;
    const { size } = await fstatAsync(fin);
    await pipeline(fin, start, size - start, block, w, (data, buf, last) => dec.openInto(data, buf, last));
    await w.close();
    ok = true;
  } finally {
    fileKey?.fill(0);
    await closeAsync(fin);
    if (!ok) {
      await w.abort();
      await unlinkAsync(partial).catch(() => undefined);
    }
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
