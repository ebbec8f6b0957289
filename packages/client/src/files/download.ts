/**
 * Downloading and exporting an encrypted file (docs/PROTOCOL.md §15, docs/API.md §8): payload →
 * decryptor → sink; the sink sees only authenticated plaintext, and the caller (node-files.ts)
 * writes to a temporary file renamed only after the final chunk verified.
 */
import { concat, createPayloadDecryptor, payloadSize, rewrapHeader, wipe, X25519Identity } from '@blindrelay/protocol';
import type { RelayFile } from '../api.js';
import type { Context } from '../context.js';
import { FileCorruptError, InvalidArgumentError } from '../errors.js';
import type { FileMeta, SealedMeta } from '../file-meta.js';
import type { PendingUpload } from '../profile.js';
import { fileKeyOf, openVerified, summary } from './access.js';
import type { ExportResult, FileSink, FileSummary, ProgressListener } from './types.js';

/** A complete stored file, its key for this device, and its verified metadata; the caller wipes the key. */
async function openStored(ctx: Context, id: string): Promise<{ file: RelayFile; fileKey: Uint8Array; sealed: SealedMeta }> {
  const file = await ctx.api.getFile(id);
  if (!file.complete) throw new InvalidArgumentError(`file ${id} is still being uploaded`);
  const fileKey = await fileKeyOf(ctx, file);
  try {
    return { file, fileKey, sealed: await openVerified(ctx, file, fileKey) };
  } catch (e) {
    wipe(fileKey);
    throw e;
  }
}

/** The file's description and plaintext, streamed into the sink `open(meta)` returns. */
export async function getFile(
  ctx: Context,
  id: string,
  open: (meta: FileMeta, file: FileSummary) => Promise<FileSink>,
  onProgress?: ProgressListener,
): Promise<FileSummary> {
  const { file, fileKey, sealed } = await openStored(ctx, id);
  try {
    const meta = sealed.meta;
    if (payloadSize(meta.size) !== file.payloadSize) throw new FileCorruptError(`file ${id}: its metadata does not match the payload size`);
    const info = summary(file, sealed);
    const sink = await open(meta, info);
    let written = 0;
    await decryptPayloadStream(
      ctx,
      file,
      fileKey,
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

/** Stream a version's payload through the decryptor; `write` sees authenticated plaintext only. */
async function decryptPayloadStream(
  ctx: Context,
  file: { id: string; version: number; payloadSize: number },
  fileKey: Uint8Array,
  write: (plain: Uint8Array) => Promise<void>,
  onProgress?: ProgressListener,
): Promise<void> {
  const dec = createPayloadDecryptor(ctx.p, fileKey);
  const download = await ctx.api.openPayload(file.id, file.version);
  if (download.length !== file.payloadSize) {
    await download.body.cancel();
    throw new FileCorruptError(`file ${file.id}: the relay serves ${download.length} payload bytes, expected ${file.payloadSize}`);
  }
  let got = 0;
  for await (const piece of blocks(download.body)) {
    got += piece.length;
    const plain = await decrypt(dec, piece, false, file.id);
    if (plain.length > 0) await write(plain);
    onProgress?.(got, file.payloadSize);
  }
  const tail = await decrypt(dec, new Uint8Array(0), true, file.id);
  if (tail.length > 0) await write(tail);
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

/** The plaintext of the version a revocation re-encrypts, from `position` on (decrypted from the start, skipped up to it). */
export async function* previousPlaintext(ctx: Context, up: PendingUpload, position: number): AsyncIterable<Uint8Array> {
  if (!up.previousFileKey || up.previousVersion === undefined) throw new InvalidArgumentError('not a revocation upload');
  const file = await ctx.api.getFile(up.fileId);
  if (file.version !== up.previousVersion) throw new InvalidArgumentError(`file ${up.fileId}: the version being re-encrypted is gone`);
  let skip = position;
  // Decrypt in pieces and hand them on as they come (bounded: one network read at a time).
  const dec = createPayloadDecryptor(ctx.p, up.previousFileKey);
  const download = await ctx.api.openPayload(file.id, file.version);
  const take = (plain: Uint8Array): Uint8Array => {
    const n = Math.min(skip, plain.length);
    skip -= n;
    return plain.subarray(n);
  };
  for await (const piece of blocks(download.body)) {
    const plain = take(await decrypt(dec, piece, false, file.id));
    if (plain.length > 0) yield plain;
  }
  const tail = take(await decrypt(dec, new Uint8Array(0), true, file.id));
  if (tail.length > 0) yield tail;
}

/**
 * A standard age file of the stored one: its header re-wrapped for a fresh X25519 identity (same
 * file key; payload bytes as stored), written to `sink`. The payload is verified on the way.
 */
export async function exportFile(ctx: Context, id: string, open: (meta: FileMeta) => Promise<FileSink>, onProgress?: ProgressListener): Promise<ExportResult> {
  const { file, fileKey, sealed } = await openStored(ctx, id);
  try {
    const meta = sealed.meta;
    const identity = await X25519Identity.generate(ctx.p);
    const header = await rewrapHeader(ctx.p, fileKey, [identity.recipient()]);
    const sink = await open(meta);
    await sink.write(header);
    const dec = createPayloadDecryptor(ctx.p, fileKey);
    const download = await ctx.api.openPayload(file.id, file.version);
    let got = 0;
    for await (const piece of blocks(download.body)) {
      await decrypt(dec, piece, false, id); // verify only: the stored ciphertext is what is exported
      await sink.write(piece);
      got += piece.length;
      onProgress?.(got, file.payloadSize);
    }
    await decrypt(dec, new Uint8Array(0), true, id);
    return { file: summary(file, sealed), identity: identity.toString(), recipient: identity.recipient().toString() };
  } finally {
    wipe(fileKey);
  }
}
