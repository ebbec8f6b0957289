/**
 * Downloading and exporting an encrypted file (docs/PROTOCOL.md §15, docs/API.md §8): payload →
 * decryptor → sink; the sink sees only authenticated plaintext, and the caller (node-files.ts)
 * writes to a temporary file renamed only once the call returned: after the final chunk
 * authenticated and the payload's digest matched the one its owner sealed (§15.4), so content a
 * reader encrypted under the file key in place of the owner's is never kept.
 */
import { concat, createPayloadDecryptor, equal, PayloadDigest, payloadSize, rewrapHeader, wipe, X25519Identity } from '@blindrelay/protocol';
import type { RelayFile } from '../api.js';
import type { Context } from '../context.js';
import { FileCorruptError, FileSignatureError, InvalidArgumentError, UnsignedFileError, UploadLostError } from '../errors.js';
import type { FileMeta } from '../file-meta.js';
import type { PendingUpload } from '../profile.js';
import { fileKeyOf } from './access.js';
import type { DownloadOptions, ExportResult, FileSink, FileSummary, ProgressListener } from './types.js';
import { openVerified, summary, type Verified } from './verified.js';

/**
 * A complete stored file, its key for this device, and what its owner signed; the caller wipes the
 * key. A file stored before signed contents is refused unless `allowUnsigned`.
 */
async function openStored(ctx: Context, id: string, options: DownloadOptions): Promise<{ file: RelayFile; fileKey: Uint8Array; verified: Verified }> {
  const file = await ctx.api.getFile(id);
  if (!file.complete) throw new InvalidArgumentError(`file ${id} is still being uploaded`);
  const fileKey = await fileKeyOf(ctx, file);
  try {
    const verified = await openVerified(ctx, file, fileKey);
    if (!verified.digest && !options.allowUnsigned) throw new UnsignedFileError(id);
    return { file, fileKey, verified };
  } catch (e) {
    wipe(fileKey);
    throw e;
  }
}

/** The digest of what was downloaded against the owner's (null: a file stored before 2026-12-03, accepted by the caller). */
async function checkDigest(digest: PayloadDigest, sealed: Uint8Array | null, id: string): Promise<void> {
  const got = await digest.finish();
  if (sealed && !equal(got, sealed)) {
    throw new FileSignatureError(`file ${id}: the payload is not the one its owner sealed (replaced by someone who holds the file key); nothing was kept`);
  }
}

/** The file's description and plaintext, streamed into the sink `open(meta)` returns. */
export async function getFile(
  ctx: Context,
  id: string,
  open: (meta: FileMeta, file: FileSummary) => Promise<FileSink>,
  onProgress?: ProgressListener,
  options: DownloadOptions = {},
): Promise<FileSummary> {
  const { file, fileKey, verified } = await openStored(ctx, id, options);
  try {
    const meta = verified.meta;
    if (payloadSize(meta.size) !== file.payloadSize) throw new FileCorruptError(`file ${id}: its metadata does not match the payload size`);
    const info = summary(file, verified);
    const sink = await open(meta, info);
    let written = 0;
    await decryptPayloadStream(
      ctx,
      file,
      fileKey,
      verified.digest,
      async (plain) => {
        written += plain.length;
        if (written > meta.size) throw new FileCorruptError(`file ${id}: more plaintext than its metadata announces`);
        await sink.write(plain);
      },
      onProgress,
    );
    if (written !== meta.size) throw new FileCorruptError(`file ${id}: ${written} bytes of plaintext, its metadata announces ${meta.size}`);
    return info;
  } finally {
    wipe(fileKey);
  }
}

/**
 * Stream a version's payload through the decryptor; `write` sees authenticated plaintext only, and
 * the call fails (after the last write: the caller discards what it wrote) unless the payload's
 * digest is `sealed`, the one its owner signed.
 */
async function decryptPayloadStream(
  ctx: Context,
  file: { id: string; version: number; payloadSize: number },
  fileKey: Uint8Array,
  sealed: Uint8Array | null,
  write: (plain: Uint8Array) => Promise<void>,
  onProgress?: ProgressListener,
): Promise<void> {
  const dec = createPayloadDecryptor(ctx.p, fileKey);
  const digest = PayloadDigest.create(ctx.p);
  const download = await ctx.api.openPayload(file.id, file.version);
  if (download.length !== file.payloadSize) {
    await download.body.cancel();
    throw new FileCorruptError(`file ${file.id}: the relay serves ${download.length} payload bytes, expected ${file.payloadSize}`);
  }
  let got = 0;
  for await (const piece of blocks(download.body)) {
    got += piece.length;
    await digest.update(piece);
    const plain = await decrypt(dec, piece, false, file.id);
    if (plain.length > 0) await write(plain);
    onProgress?.(got, file.payloadSize);
  }
  const tail = await decrypt(dec, new Uint8Array(0), true, file.id);
  if (tail.length > 0) await write(tail);
  await checkDigest(digest, sealed, file.id);
}

/** Bytes per block handed to the decryptor and the sink (network reads are often only 16–64 KiB). */
const DOWNLOAD_BLOCK_BYTES = 1024 * 1024;

/** A response body in blocks of at least DOWNLOAD_BLOCK_BYTES (the last may be shorter); cancelled if the consumer stops early. */
async function* blocks(body: ReadableStream<Uint8Array>): AsyncIterable<Uint8Array> {
  const reader = body.getReader();
  let parts: Uint8Array[] = [];
  let size = 0;
  let finished = false;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (!done) {
        parts.push(value);
        size += value.length;
      }
      if (size > 0 && (done || size >= DOWNLOAD_BLOCK_BYTES)) {
        const block = parts.length === 1 ? (parts[0] as Uint8Array) : concat(...parts);
        parts = [];
        size = 0;
        yield block;
      }
      if (done) {
        finished = true;
        return;
      }
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

async function decrypt(dec: { push(d: Uint8Array, last?: boolean): Promise<Uint8Array> }, data: Uint8Array, last: boolean, id: string): Promise<Uint8Array> {
  try {
    return await dec.push(data, last);
  } catch (e) {
    throw new FileCorruptError(`file ${id}: the payload does not authenticate (${(e as Error).message}); nothing was kept`, { cause: e });
  }
}

/**
 * The plaintext of the version a revocation re-encrypts, from `position` on (decrypted from the
 * start, skipped up to it). Its payload is checked against its owner's seal before the iteration
 * ends, so a revocation never seals content someone else put under the old key (the upload's last
 * part, which carries the new seal, goes out only after that).
 */
export async function* previousPlaintext(ctx: Context, up: PendingUpload, position: number): AsyncIterable<Uint8Array> {
  if (!up.previousFileKey || up.previousVersion === undefined) throw new InvalidArgumentError('not a revocation upload');
  const file = await ctx.api.getFile(up.fileId);
  if (file.version !== up.previousVersion) throw new UploadLostError(`file ${up.fileId}: the version being re-encrypted is gone`);
  // A file stored before 2026-12-03 has no seal: its owner signs what it holds now.
  const sealed = (await openVerified(ctx, file, up.previousFileKey)).digest;
  let skip = position;
  // Decrypt in pieces and hand them on as they come (bounded: one network read at a time).
  const dec = createPayloadDecryptor(ctx.p, up.previousFileKey);
  const digest = PayloadDigest.create(ctx.p);
  const download = await ctx.api.openPayload(file.id, file.version);
  const take = (plain: Uint8Array): Uint8Array => {
    const n = Math.min(skip, plain.length);
    skip -= n;
    return plain.subarray(n);
  };
  for await (const piece of blocks(download.body)) {
    await digest.update(piece);
    const plain = take(await decrypt(dec, piece, false, file.id));
    if (plain.length > 0) yield plain;
  }
  const tail = take(await decrypt(dec, new Uint8Array(0), true, file.id));
  await checkDigest(digest, sealed, file.id);
  if (tail.length > 0) yield tail;
}

/**
 * A standard age file of the stored one: its header re-wrapped for a fresh X25519 identity (same
 * file key; payload bytes as stored), written to `sink`. The payload is verified on the way,
 * against the owner's seal too; the age file itself carries no signature (age has no place for
 * one): it is as authentic as the copy it was made from, no more, once it leaves this device.
 */
export async function exportFile(
  ctx: Context,
  id: string,
  open: (meta: FileMeta) => Promise<FileSink>,
  onProgress?: ProgressListener,
  options: DownloadOptions = {},
): Promise<ExportResult> {
  const { file, fileKey, verified } = await openStored(ctx, id, options);
  try {
    const meta = verified.meta;
    const identity = await X25519Identity.generate(ctx.p);
    const header = await rewrapHeader(ctx.p, fileKey, [identity.recipient()]);
    const sink = await open(meta);
    await sink.write(header);
    const dec = createPayloadDecryptor(ctx.p, fileKey);
    const digest = PayloadDigest.create(ctx.p);
    const download = await ctx.api.openPayload(file.id, file.version);
    let got = 0;
    for await (const piece of blocks(download.body)) {
      await digest.update(piece);
      await decrypt(dec, piece, false, id); // verify only: the stored ciphertext is what is exported
      await sink.write(piece);
      got += piece.length;
      onProgress?.(got, file.payloadSize);
    }
    await decrypt(dec, new Uint8Array(0), true, id);
    await checkDigest(digest, verified.digest, id);
    return { file: summary(file, verified), identity: identity.toString(), recipient: identity.recipient().toString() };
  } finally {
    wipe(fileKey);
  }
}
