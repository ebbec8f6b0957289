/**
 * Uploading an encrypted file (docs/PROTOCOL.md §15, docs/API.md §8): plaintext → encryptor → PUT
 * of ≤ UPLOAD_PART_BYTES at the offset the relay holds, one request in flight while the next part
 * is encrypted. The file key and payload nonce of an unfinished upload are kept in the profile
 * (`uploads`), so an interrupted upload resumes from the relay's `received` offset, re-encrypting
 * from the chunk that holds it (the ciphertext is a function of key, nonce and plaintext).
 *
 * The payload's digest (protocol payload-digest.ts) is computed as it is encrypted; the request
 * that completes the version carries the owner's seal of it (§15.4). The profile keeps the digest
 * at the chunk holding the acknowledged offset. A resumed upload re-encrypts from the start without
 * sending what the relay holds, and goes on only if its digest at that chunk is the recorded one
 * (and the tags of the chunks sent beyond it match): so what it seals is exactly the payload the
 * relay holds, all of it encrypted from the plaintext of this run — a source changed in a part
 * already sent, or a revocation's source served differently by the relay than in an earlier run
 * (checked against the old version's seal at its end), makes it start afresh instead.
 */

import {
  chunkIndexOfPayloadOffset,
  concat,
  createPayloadEncryptor,
  equal,
  generateFileKey,
  PAYLOAD_NONCE_BYTES,
  PayloadDigest,
  type PayloadDigestState,
  payloadOffsetOfChunk,
  payloadSize,
  rewrapHeader,
  signDeviceFileAccess,
  signDeviceFileSeal,
} from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from '../base64url.js';
import type { Context } from '../context.js';
import {
  ConflictError,
  NotFoundError,
  OffsetMismatchError,
  RateLimitedError,
  RelayError,
  SourceChangedError,
  UnreachableError,
  UploadLostError,
} from '../errors.js';
import { normalizeMeta, sealFileMeta } from '../file-meta.js';
import { freshId } from '../ids.js';
import type { PendingUpload, Transaction } from '../profile.js';
import { checkUsers, recipientsOf } from './access.js';
import { type FileSource, type ProgressListener, type PutOptions, type PutResult, UPLOAD_PART_BYTES } from './types.js';
import { accessBinding, describe } from './verified.js';

/** Attempts to continue an upload after a network failure or an offset the relay corrected. */
const UPLOAD_ATTEMPTS = 6;

/**
 * What an upload has sent, kept in the profile before every part goes out: the offset the relay
 * acknowledged, and the Poly1305 tag of every chunk sent beyond it. A resumed upload re-encrypts
 * (from the start, sending from the relay's offset); a chunk whose tag differs from the one sent before means the plaintext
 * changed, and encrypting it again under the same key, nonce and counter would hand the relay two
 * ciphertexts of one keystream (and two tags of one Poly1305 key): it is refused before a byte goes
 * out. A relay that claims fewer bytes than it acknowledged is refused too.
 */
interface SentState {
  acked: number;
  tags: Map<number, Uint8Array>;
  /** The payload digest before the chunk that holds `acked` (where a resumed upload re-encrypts from). */
  digest: PayloadDigestState;
  /** Bytes per PUT: halved after a failed request (a slow link must finish a part within the relay's request timeout). */
  partBytes: number;
}

/** The payload digest before chunk 0 (the nonce hashed): where every new upload's digest starts. */
export async function initialDigest(ctx: Context, nonce: Uint8Array): Promise<PayloadDigestState> {
  const d = PayloadDigest.create(ctx.p);
  await d.update(nonce);
  return d.checkpoint();
}
/** Smallest part a slow link falls back to. */
const MIN_PART_BYTES = 256 * 1024;

/**
 * Encrypt `plaintext` from the start and PUT everything from `from` on, in parts of
 * `sent.partBytes`; one PUT in flight while the next part is encrypted. What is not sent is checked
 * against what was: the digest at `sent.digest`, the tags in `sent.tags`. The part that completes
 * the payload carries the owner's seal of its digest.
 */
async function uploadFrom(
  ctx: Context,
  up: PendingUpload,
  sent: SentState,
  from: number,
  plaintext: (position: number) => AsyncIterable<Uint8Array>,
  onProgress?: ProgressListener,
  signal?: AbortSignal,
): Promise<{ received: number; complete: boolean }> {
  if (from < sent.acked) throw new RelayError('ERR_RELAY', 200, 'bad_response', 'relay: it reports fewer payload bytes than it acknowledged before');
  const recorded = sent.digest;
  if (recorded.chunk > chunkIndexOfPayloadOffset(from)) throw new SourceChangedError('the upload record is inconsistent: its digest is ahead of the relay');
  let skip = from;
  const enc = await createPayloadEncryptor(ctx.p, up.fileKey, up.nonce);
  const digest = PayloadDigest.create(ctx.p);
  /** The digest before each chunk still to be acknowledged (to move `sent.digest` forward as the relay acknowledges). */
  const states = new Map<number, Uint8Array>([[recorded.chunk, recorded.state]]);
  /** Payload bytes hashed so far. */
  let hashed = 0;
  let sealed: Uint8Array | null = null;
  const fileId = fromBase64url(up.fileId);
  let offset = from;
  let inflight: Promise<{ received: number; complete: boolean }> | null = null;
  let last: { received: number; complete: boolean } | null = null;
  let parts: Uint8Array[] = [];
  let buffered = 0;
  /** Payload offset of the next byte the encryptor hands out, and the next chunk to end. */
  let pos = 0;
  let nextChunk = 0;
  const flush = async () => {
    if (buffered === 0) return;
    signal?.throwIfAborted();
    const body = parts.length === 1 ? (parts[0] as Uint8Array) : concat(...parts);
    parts = [];
    buffered = 0;
    if (inflight) last = await inflight;
    const at = offset;
    offset += body.length;
    // Record what is about to be sent before it can reach the relay.
    for (const i of [...sent.tags.keys()]) if (payloadOffsetOfChunk(i + 1) <= sent.acked) sent.tags.delete(i);
    await recordSent(ctx, up, sent);
    // The part that completes the payload carries the owner's seal of its digest (PROTOCOL.md §15.4).
    const completes = at + body.length === up.payloadSize;
    if (completes && !sealed) throw new SourceChangedError('the payload digest is not complete at its end');
    const seal = completes
      ? await signDeviceFileSeal(ctx.p, ctx.account.signingSeed, up.fileKey, { fileId, version: up.version, payloadSize: up.payloadSize }, sealed as Uint8Array)
      : undefined;
    const put = ctx.api.putPayload(up.fileId, up.version, at, body, seal).then((r) => {
      // Only what was sent can be acknowledged (the digest moves with it).
      if (r.received > sent.acked && r.received <= at + body.length) {
        sent.acked = r.received;
        const chunk = chunkIndexOfPayloadOffset(Math.min(r.received, up.payloadSize - 1));
        const state = states.get(chunk);
        if (state && chunk >= sent.digest.chunk) {
          sent.digest = { chunk, state };
          for (const i of [...states.keys()]) if (i < chunk) states.delete(i);
        }
      }
      onProgress?.(r.received, up.payloadSize);
      return r;
    });
    put.catch(() => {}); // handled when awaited (next flush or the end); not an unhandled rejection meanwhile
    inflight = put;
  };
  /**
   * Check and remember the tag of every chunk that ends in `out` (the encryptor hands out whole
   * chunks), hash the output into the digest, and compare the digest where the record has it.
   */
  const tags = async (out: Uint8Array) => {
    const endOfOut = pos + out.length;
    for (;;) {
      const end = Math.min(payloadOffsetOfChunk(nextChunk + 1), up.payloadSize);
      if (end > endOfOut) break;
      const tag = out.slice(end - 16 - pos, end - pos);
      const before = sent.tags.get(nextChunk);
      if (before && !equal(before, tag)) {
        throw new SourceChangedError('the source changed since part of it was sent: refusing to encrypt different data under the same key and nonce');
      }
      if (end > sent.acked) sent.tags.set(nextChunk, tag);
      await digest.update(out.subarray(hashed - pos, end - pos));
      hashed = end;
      nextChunk++;
      if (end === up.payloadSize) {
        sealed = await digest.finish();
        break;
      }
      const state = digest.checkpoint().state;
      if (nextChunk === recorded.chunk && !equal(state, recorded.state)) {
        // What the relay holds was encrypted from other data than this run's (chunks acknowledged before).
        throw new SourceChangedError('the data already uploaded differs from the source now: refusing to seal a mix of the two');
      }
      if (nextChunk >= recorded.chunk) states.set(nextChunk, state);
    }
    // The rest of `out` (the nonce, or the start of a chunk) goes into the digest now.
    if (endOfOut > hashed && sealed === null) {
      await digest.update(out.subarray(hashed - pos));
      hashed = endOfOut;
    }
    pos = endOfOut;
  };
  /** Parts of exactly `sent.partBytes` (the last may be shorter), whatever size the encryptor hands out. */
  const take = async (out: Uint8Array) => {
    await tags(out);
    let bytes = out;
    if (skip > 0) {
      const n = Math.min(skip, bytes.length);
      bytes = bytes.subarray(n);
      skip -= n;
    }
    while (bytes.length > 0) {
      const n = Math.min(bytes.length, sent.partBytes - buffered);
      parts.push(bytes.subarray(0, n));
      buffered += n;
      bytes = bytes.subarray(n);
      if (buffered === sent.partBytes) await flush();
    }
  };
  let read = 0;
  try {
    for await (const chunk of plaintext(0)) {
      read += chunk.length;
      if (read > up.size) throw new SourceChangedError(`the source grew beyond ${up.size} bytes since the upload started`);
      await take(await enc.push(chunk));
    }
    if (read !== up.size) throw new SourceChangedError(`the source has ${read} bytes, the upload was started with ${up.size}`);
    await take(await enc.push(new Uint8Array(0), true));
    await flush();
    if (inflight) last = await inflight;
  } catch (e) {
    // Let the request in flight settle before reporting, so a retry starts from a known offset.
    if (inflight) await (inflight as Promise<unknown>).catch(() => {});
    throw e;
  }
  if (offset !== up.payloadSize) throw new SourceChangedError('the encrypted size does not match the announced size');
  // Nothing was sent (the relay already held every byte): completeness is the relay's to report.
  return last ?? { received: from, complete: false };
}

/**
 * Run an upload to completion, continuing from the relay's offset after interruptions. Throws
 * UploadLostError when the relay no longer has the version (pruned after a day, or at will by a
 * hostile relay; replaced by another device), or the upload was started before seals existed.
 */
export async function runUpload(
  ctx: Context,
  up: PendingUpload,
  plaintext: (position: number) => AsyncIterable<Uint8Array>,
  onProgress?: ProgressListener,
  signal?: AbortSignal,
): Promise<void> {
  let lastError: unknown;
  // The relay lets one upload write a version at a time (a lease of up to 60 s: a crashed writer's expires).
  const leaseDeadline = Date.now() + 75_000;
  if (!up.digest) throw new UploadLostError(`file ${up.fileId}: this upload was started before 2026-12-03 and cannot be sealed`);
  const sent: SentState = { acked: up.acked ?? 0, tags: new Map(up.sentTags ?? []), digest: up.digest, partBytes: UPLOAD_PART_BYTES };
  for (let attempt = 0; attempt < UPLOAD_ATTEMPTS; attempt++) {
    signal?.throwIfAborted();
    let file: Awaited<ReturnType<typeof ctx.api.getFile>>;
    try {
      file = await ctx.api.getFile(up.fileId);
    } catch (e) {
      if (e instanceof NotFoundError) throw new UploadLostError(`file ${up.fileId} is gone from the relay (an unfinished upload is pruned after a day)`);
      throw e;
    }
    const target =
      file.version === up.version
        ? { received: file.received, complete: file.complete }
        : file.pending?.version === up.version
          ? { ...file.pending, complete: false }
          : null;
    if (!target) {
      // A revocation finished meanwhile (the pending version became current and complete), or another device replaced it.
      if (file.version >= up.version && file.complete) return;
      throw new UploadLostError(`file ${up.fileId} no longer has the version ${up.version} this upload was writing`);
    }
    if (target.complete) return;
    onProgress?.(target.received, up.payloadSize);
    try {
      const r = await uploadFrom(ctx, up, sent, target.received, plaintext, onProgress, signal);
      if (!r.complete || r.received !== up.payloadSize) {
        throw new RelayError('ERR_RELAY', 200, 'bad_response', 'relay: it took the whole payload but does not report the file complete');
      }
      return;
    } catch (e) {
      // Another writer's lease, or the relay receiving too many uploads at once: wait and go on.
      const busy = (e instanceof ConflictError && e.relayCode === 'conflict') || (e instanceof RateLimitedError && (e.retryAfterSeconds ?? 1) <= 5);
      if (busy && !signal?.aborted && Date.now() < leaseDeadline) {
        attempt--;
        await new Promise((r) => setTimeout(r, 1000 * Math.max(1, (e as RateLimitedError).retryAfterSeconds ?? 1)));
        continue;
      }
      if (signal?.aborted || !(e instanceof OffsetMismatchError || e instanceof UnreachableError)) throw e;
      lastError = e;
      if (e instanceof UnreachableError) {
        sent.partBytes = Math.max(MIN_PART_BYTES, sent.partBytes / 2);
        await new Promise((r) => setTimeout(r, Math.min(8000, 500 * 2 ** attempt)));
      }
    }
  }
  throw lastError;
}

export async function rememberUpload(ctx: Context, up: PendingUpload): Promise<void> {
  await ctx.profile.transact(async (tx) => {
    const r = await tx.get('uploads');
    r.uploads.set(up.fileId, up);
    tx.set('uploads', r);
  });
}

/**
 * Save what this upload has sent, merged with what the profile already holds for it (another
 * process of this profile may be resuming the same upload): the highest acknowledged offset, and
 * every chunk tag either side recorded. Two different tags for one chunk mean two different
 * plaintexts under one key and nonce: refused.
 */
async function recordSent(ctx: Context, up: PendingUpload, sent: SentState): Promise<void> {
  await ctx.profile.transact(async (tx) => {
    const r = await tx.get('uploads');
    const stored = r.uploads.get(up.fileId);
    if (stored && stored.version === up.version) {
      // The digest goes with the acknowledged offset it was taken at.
      if ((stored.acked ?? 0) > sent.acked && stored.digest) {
        sent.acked = stored.acked as number;
        sent.digest = stored.digest;
      }
      for (const [i, tag] of stored.sentTags ?? []) {
        const mine = sent.tags.get(i);
        if (mine && !equal(mine, tag)) throw new SourceChangedError('another process sent different data for this upload under the same key and nonce');
        if (!mine && payloadOffsetOfChunk(i + 1) > sent.acked) sent.tags.set(i, tag);
      }
    }
    r.uploads.set(up.fileId, { ...up, acked: sent.acked, sentTags: [...sent.tags], digest: sent.digest });
    tx.set('uploads', r);
  });
}

export async function forgetUpload(ctx: Context, fileId: string): Promise<void> {
  await ctx.profile.transact(async (tx: Transaction) => {
    const r = await tx.get('uploads');
    if (!r.uploads.delete(fileId)) return;
    tx.set('uploads', r);
  });
}

/** Unfinished uploads of this device (resume them with `resumeUpload` / `put` of the same source). */
export async function pendingUploads(ctx: Context): Promise<PendingUpload[]> {
  return ctx.profile.transact(async (tx) => [...(await tx.get('uploads')).uploads.values()]);
}

/** Encrypt `source` for our devices and `options.to`'s, and store it on the relay. */
export async function putFile(ctx: Context, source: FileSource, options: PutOptions = {}): Promise<PutResult> {
  const readers = checkUsers(options.to ?? [], ctx.account.user);
  const earlier = (await pendingUploads(ctx)).find((u) => u.kind === 'new' && u.source === source.key);
  if (earlier) {
    if (earlier.size !== source.size || earlier.mtimeMs !== source.mtimeMs || !earlier.digest) {
      // The interrupted upload's source changed (its partial payload is useless), or it was started
      // before seals existed (it could not be sealed): start afresh.
      await discardUpload(ctx, earlier);
    } else {
      let lost = false;
      try {
        await runUpload(ctx, earlier, (at) => source.read(at), options.onProgress, options.signal);
      } catch (e) {
        // A source that changed under the upload cannot be resumed: drop it; the next put starts
        // afresh. An upload the relay no longer has (pruned after a day) starts afresh now.
        if (e instanceof SourceChangedError || e instanceof UploadLostError) await discardUpload(ctx, earlier);
        if (!(e instanceof UploadLostError)) throw e;
        lost = true;
      }
      if (!lost) {
        await forgetUpload(ctx, earlier.fileId);
        return { file: await describe(ctx, await ctx.api.getFile(earlier.fileId)), skipped: [], resumed: true };
      }
    }
  }
  const { recipients, skipped } = await recipientsOf(ctx, readers, options.acceptNewKey ?? false);
  const fileKey = generateFileKey(ctx.p);
  const nonce = ctx.p.randomBytes(PAYLOAD_NONCE_BYTES);
  // The id is ours to choose (16 random bytes), so that the owner can sign it with the metadata.
  const id = toBase64url(freshId(ctx.p));
  const header = await rewrapHeader(ctx.p, fileKey, recipients);
  const plainMeta = normalizeMeta({ name: source.name, size: source.size, mtimeMs: source.mtimeMs });
  const access = await signDeviceFileAccess(ctx.p, ctx.account.signingSeed, fileKey, ctx.account.user, readers, accessBinding(id, header, plainMeta));
  const meta = await sealFileMeta(ctx.p, fileKey, plainMeta, access);
  const size = payloadSize(source.size);
  const created = await ctx.api.createFile({ id, header, meta, payloadSize: size, readers: access.readers });
  const up: PendingUpload = {
    fileId: created.id,
    version: created.version,
    kind: 'new',
    fileKey,
    nonce,
    payloadSize: size,
    size: source.size,
    source: source.key,
    mtimeMs: source.mtimeMs,
    startedAt: ctx.now(),
    digest: await initialDigest(ctx, nonce),
  };
  await rememberUpload(ctx, up);
  try {
    await runUpload(ctx, up, (at) => source.read(at), options.onProgress, options.signal);
  } catch (e) {
    // A changed source leaves nothing worth resuming; anything else stays resumable.
    if (e instanceof SourceChangedError) await discardUpload(ctx, up);
    throw e;
  }
  await forgetUpload(ctx, up.fileId);
  return { file: await describe(ctx, await ctx.api.getFile(up.fileId)), skipped, resumed: false };
}

async function discardUpload(ctx: Context, up: PendingUpload): Promise<void> {
  if (up.kind === 'new') {
    try {
      await ctx.api.deleteFile(up.fileId);
    } catch {
      // Already gone, or unreachable: the relay prunes unfinished uploads after a day.
    }
  }
  await forgetUpload(ctx, up.fileId);
}
