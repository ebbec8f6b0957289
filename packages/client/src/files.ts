/**
 * Encrypted files (docs/PROTOCOL.md §15, docs/API.md §8): age v1 files whose header (one X25519
 * stanza per authorised device, wrapping a fresh 16-byte file key) and payload (STREAM
 * ChaCha20-Poly1305, 64 KiB chunks) are stored apart on the relay.
 *
 * - Recipients are every device of the owner and of each reader that published a file key in
 *   its master-signed device list, taken only from lists verified by directory.ts (never from an
 *   unsigned server answer). Devices without a file key are reported in `skipped`.
 * - Upload streams: plaintext → encryptor → PUT of ≤ UPLOAD_PART_BYTES at the offset the relay
 *   holds, one request in flight while the next part is encrypted. The file key and payload nonce
 *   of an unfinished upload are kept in the profile (`uploads`), so an interrupted upload resumes
 *   from the relay's `received` offset, re-encrypting from the chunk that holds it (the ciphertext
 *   is a function of key, nonce and plaintext).
 * - Share: a new header for the same file key (owner's and readers' current devices plus the new
 *   user's), payload untouched. Re-wrap: the same without changing readers (new devices of
 *   authorised users). Revoke: a new file key and nonce, the current version decrypted and
 *   re-encrypted as a new version for the remaining users; the relay deletes the old payload once
 *   the new one is complete (cryptographic erasure) and cuts the revoked reader off at once.
 * - Download: payload → decryptor → sink; the sink sees only authenticated plaintext, and the
 *   caller (node-files.ts) writes to a temporary file renamed only after the final chunk verified.
 */
import {
  AgeNoMatchError,
  CHUNK_BYTES,
  chunkIndexOfPayloadOffset,
  createPayloadDecryptor,
  createPayloadEncryptor,
  decodeDeviceList,
  equal,
  generateFileKey,
  isValidUserName,
  PAYLOAD_NONCE_BYTES,
  payloadOffsetOfChunk,
  payloadSize,
  rewrapHeader,
  signDeviceList,
  signFileAccess,
  unwrapFileKey,
  verifyFileAccess,
  wipe,
  X25519Identity,
  X25519Recipient,
} from '@blindrelay/protocol';
import type { RelayFile } from './api.js';
import type { Context } from './context.js';
import { listForSend, resolveUser } from './directory.js';
import {
  ConflictError,
  FileAccessError,
  FileCorruptError,
  FileOwnerOnlyError,
  InvalidArgumentError,
  KeyChangedError,
  OffsetMismatchError,
  RateLimitedError,
  RelayError,
  SourceChangedError,
  UnreachableError,
} from './errors.js';
import { type FileMeta, openFileMeta, type SealedMeta, sealFileMeta } from './file-meta.js';
import type { Contact, PendingUpload, Transaction } from './profile.js';
import { pruneSessions } from './sessions.js';

/** Payload bytes per PUT (the relay accepts up to 16 MiB). */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;
/** Attempts to continue an upload after a network failure or an offset the relay corrected. */
const UPLOAD_ATTEMPTS = 6;

/** Plaintext to upload, readable from any position (a resumed upload starts mid-file). */
export interface FileSource {
  readonly name: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** Identifies the source across runs (an absolute path); matched with `mtimeMs` and `size` on resume. */
  readonly key: string;
  read(position: number): AsyncIterable<Uint8Array>;
}

/** Where downloaded plaintext goes: only authenticated bytes are written. */
export interface FileSink {
  write(chunk: Uint8Array): Promise<void>;
}

export type ProgressListener = (done: number, total: number) => void;

export interface FileSummary {
  readonly id: string;
  readonly owner: string;
  readonly readers: readonly string[];
  /** Null when this device cannot open the file (see `access`). */
  readonly name: string | null;
  /** Plaintext bytes (null when unknown to this device). */
  readonly size: number | null;
  readonly version: number;
  readonly revision: number;
  readonly complete: boolean;
  /**
   * `no-key`: no stanza for this device (not shared with it, or it was linked after the last
   * re-wrap); `corrupt`: the header or metadata does not verify, or the reader list is not signed
   * by the owner; `unverified`: the owner's master key changed (compare safety numbers).
   */
  readonly access: 'ok' | 'no-key' | 'corrupt' | 'unverified';
  readonly createdAt: number;
  readonly updatedAt: number;
  /** An unfinished upload (first version or revocation): bytes the relay holds of how many. */
  readonly upload?: { readonly received: number; readonly payloadSize: number };
}

export interface PutResult {
  readonly file: FileSummary;
  /** Devices that got no stanza because they have not published a file key. */
  readonly skipped: readonly { user: string; deviceId: number }[];
  /** The upload continued an earlier, interrupted one. */
  readonly resumed: boolean;
}

export interface PutOptions {
  /** Users who may read the file (besides the owner's devices). */
  to?: readonly string[];
  onProgress?: ProgressListener;
  acceptNewKey?: boolean;
  /** Stops the upload (it stays resumable: put the same source again). */
  signal?: AbortSignal;
}

// ---- keys and recipients ----------------------------------------------------------------------

async function ownIdentity(ctx: Context): Promise<X25519Identity> {
  const key = ctx.account.filePrivate;
  if (!key) throw new FileAccessError('this device has no file key yet');
  return X25519Identity.fromPrivateKey(ctx.p, key);
}

/**
 * Make sure our own device list carries this device's file key (profiles from before files
 * existed publish it here, as a new list version signed with the master seed).
 */
export async function publishOwnFileKey(ctx: Context): Promise<void> {
  const a = ctx.account;
  if (!a.filePublic) throw new FileAccessError('this device has no file key yet');
  const filePublic = a.filePublic;
  await ctx.profile.transact(async (tx) => {
    const own = await resolveUser(ctx, tx, a.user, { mode: 'lookup' });
    const entry = own.list.devices.find((d) => d.deviceId === a.deviceId);
    if (!entry || (entry.fileKey && equal(entry.fileKey, filePublic))) return;
    const devices = own.list.devices.map((d) => (d.deviceId === a.deviceId ? { ...d, fileKey: filePublic } : d));
    const signed = await signDeviceList(ctx.p, a.user, { seed: a.masterSeed, publicKey: a.masterKey }, own.list.version + 1, devices);
    await ctx.api.putDeviceList(a.user, signed);
    const next = decodeDeviceList(signed);
    const contacts = await tx.get('contacts');
    contacts.contacts.set(a.user, { ...(contacts.contacts.get(a.user) as Contact), deviceList: signed, listCheckedAt: ctx.now() });
    tx.set('contacts', contacts);
    await pruneSessions(tx, a.user, new Map(next.devices.map((d) => [d.deviceId, d.identityKey] as const)));
    ctx.directory.set(a.user, { at: ctx.now(), masterKey: a.masterKey, list: signed });
  });
}

interface Recipients {
  readonly recipients: X25519Recipient[];
  readonly skipped: { user: string; deviceId: number }[];
}

/** The file keys of every current device of `users` (our own user first), from verified lists. */
async function recipientsOf(ctx: Context, users: readonly string[], acceptNewKey: boolean): Promise<Recipients> {
  await publishOwnFileKey(ctx);
  return ctx.profile.transact(async (tx) => {
    const recipients: X25519Recipient[] = [];
    const skipped: { user: string; deviceId: number }[] = [];
    for (const user of [ctx.account.user, ...users.filter((u) => u !== ctx.account.user)]) {
      const list =
        user === ctx.account.user ? (await resolveUser(ctx, tx, user, { mode: 'send' })).list : (await listForSend(ctx, tx, user, { acceptNewKey })).list;
      for (const d of list.devices) {
        if (d.fileKey) recipients.push(new X25519Recipient(d.fileKey));
        else skipped.push({ user, deviceId: d.deviceId });
      }
    }
    return { recipients, skipped };
  });
}

function checkUsers(users: readonly string[], self: string): string[] {
  const out = [...new Set(users.map((u) => u.trim()))].filter((u) => u !== self);
  for (const u of out) if (!isValidUserName(u)) throw new InvalidArgumentError(`not a user name: ${u}`);
  return out;
}

/** The file key of `file` for this device: FileAccessError if no stanza opens, FileCorruptError for a bad header. */
async function fileKeyOf(ctx: Context, file: RelayFile): Promise<Uint8Array> {
  try {
    return await unwrapFileKey(ctx.p, file.header, [await ownIdentity(ctx)]);
  } catch (e) {
    if (e instanceof AgeNoMatchError) {
      throw new FileAccessError(
        file.owner === ctx.account.user
          ? `file ${file.id} has no key for this device yet: run \`blindrelay file rewrap ${file.id}\` on a device that has one`
          : `file ${file.id} has no key for this device: ask ${file.owner} to run \`blindrelay file rewrap ${file.id}\` (or to share it with you)`,
      );
    }
    if (e instanceof FileAccessError) throw e;
    throw new FileCorruptError(`file ${file.id}: the header does not verify (${(e as Error).message})`, { cause: e });
  }
}

function summary(file: RelayFile, sealed: SealedMeta | null, problem: 'no-key' | 'corrupt' | 'unverified' = 'no-key'): FileSummary {
  const upload = file.pending ?? (file.complete ? undefined : { received: file.received, payloadSize: file.payloadSize });
  return {
    id: file.id,
    owner: file.owner,
    // The owner-signed list once verified; unknown otherwise (the relay's list is not shown as fact).
    readers: [...(sealed?.access.readers ?? [])],
    name: sealed?.meta.name ?? null,
    size: sealed?.meta.size ?? null,
    version: file.version,
    revision: file.revision,
    complete: file.complete,
    access: sealed ? 'ok' : problem,
    createdAt: file.createdAt,
    updatedAt: file.updatedAt,
    ...(upload ? { upload: { received: upload.received, payloadSize: upload.payloadSize } } : {}),
  };
}

/** The trusted master key of a file's owner (ours, or the owner's pinned key: directory.ts). */
async function ownerMasterKey(ctx: Context, owner: string, cache?: Map<string, Uint8Array>): Promise<Uint8Array> {
  if (owner === ctx.account.user) return ctx.account.masterKey;
  const known = cache?.get(owner);
  if (known) return known;
  const key = await ctx.profile.transact(async (tx) => (await resolveUser(ctx, tx, owner, { mode: 'receive' })).contact.masterKey);
  cache?.set(owner, key);
  return key;
}

/** The file's metadata with its reader list verified: signed by the owner's trusted master key for this file key. */
async function openVerified(ctx: Context, file: RelayFile, fileKey: Uint8Array, cache?: Map<string, Uint8Array>): Promise<SealedMeta> {
  const sealed = await openFileMeta(ctx.p, fileKey, file.meta);
  if (sealed.access.owner !== file.owner) {
    throw new FileCorruptError(`file ${file.id}: its metadata names another owner than the relay does`);
  }
  const masterKey = await ownerMasterKey(ctx, file.owner, cache);
  try {
    await verifyFileAccess(ctx.p, masterKey, fileKey, sealed.access);
  } catch (e) {
    throw new FileCorruptError(`file ${file.id}: its reader list is not signed by ${file.owner}`, { cause: e });
  }
  return sealed;
}

async function describe(ctx: Context, file: RelayFile, cache?: Map<string, Uint8Array>): Promise<FileSummary> {
  let fileKey: Uint8Array;
  try {
    fileKey = await fileKeyOf(ctx, file);
  } catch (e) {
    if (e instanceof FileAccessError) return summary(file, null, 'no-key');
    if (e instanceof FileCorruptError) return summary(file, null, 'corrupt');
    throw e;
  }
  try {
    return summary(file, await openVerified(ctx, file, fileKey, cache));
  } catch (e) {
    // One bad file (a sharer's garbage, a relay's substitution) never hides the others.
    if (e instanceof FileCorruptError) return summary(file, null, 'corrupt');
    if (e instanceof KeyChangedError) return summary(file, null, 'unverified');
    throw e;
  } finally {
    wipe(fileKey);
  }
}

// ---- upload -------------------------------------------------------------------------------------

/** Payload offset where the encryptor's output from chunk `i` starts (chunk 0's output starts with the nonce, at 0). */
const chunkOffset = (i: number) => (i === 0 ? 0 : payloadOffsetOfChunk(i));

/**
 * What an upload has sent, kept in the profile before every part goes out: the offset the relay
 * acknowledged, and the Poly1305 tag of every chunk sent beyond it. A resumed upload re-encrypts
 * from the relay's offset; a chunk whose tag differs from the one sent before means the plaintext
 * changed, and encrypting it again under the same key, nonce and counter would hand the relay two
 * ciphertexts of one keystream (and two tags of one Poly1305 key): it is refused before a byte goes
 * out. A relay that claims fewer bytes than it acknowledged is refused too.
 */
interface SentState {
  acked: number;
  tags: Map<number, Uint8Array>;
  /** Bytes per PUT: halved after a failed request (a slow link must finish a part within the relay's request timeout). */
  partBytes: number;
}
/** Smallest part a slow link falls back to. */
const MIN_PART_BYTES = 256 * 1024;

/**
 * Encrypt `plaintext` from the chunk holding payload offset `from` and PUT everything from `from`
 * on, in parts of `sent.partBytes`; one PUT in flight while the next part is encrypted.
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
  const startChunk = chunkIndexOfPayloadOffset(from);
  let skip = from - chunkOffset(startChunk);
  const enc = await createPayloadEncryptor(ctx.p, up.fileKey, up.nonce, { startChunk });
  let offset = from;
  let inflight: Promise<{ received: number; complete: boolean }> | null = null;
  let last: { received: number; complete: boolean } | null = null;
  let parts: Uint8Array[] = [];
  let buffered = 0;
  /** Payload offset of the next byte the encryptor hands out, and the next chunk to end. */
  let pos = chunkOffset(startChunk);
  let nextChunk = startChunk;
  const flush = async () => {
    if (buffered === 0) return;
    signal?.throwIfAborted();
    const body = parts.length === 1 ? (parts[0] as Uint8Array) : concatParts(parts, buffered);
    parts = [];
    buffered = 0;
    if (inflight) last = await inflight;
    const at = offset;
    offset += body.length;
    // Record what is about to be sent before it can reach the relay.
    for (const i of [...sent.tags.keys()]) if (payloadOffsetOfChunk(i + 1) <= sent.acked) sent.tags.delete(i);
    await recordSent(ctx, up, sent);
    const put = ctx.api.putPayload(up.fileId, up.version, at, body).then((r) => {
      if (r.received > sent.acked) sent.acked = r.received;
      onProgress?.(r.received, up.payloadSize);
      return r;
    });
    put.catch(() => {}); // handled when awaited (next flush or the end); not an unhandled rejection meanwhile
    inflight = put;
  };
  /** Check and remember the tag of every chunk that ends in `out` (the encryptor hands out whole chunks). */
  const tags = (out: Uint8Array) => {
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
      nextChunk++;
      if (end === up.payloadSize) break;
    }
    pos = endOfOut;
  };
  /** Parts of exactly `sent.partBytes` (the last may be shorter), whatever size the encryptor hands out. */
  const take = async (out: Uint8Array) => {
    tags(out);
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
  let read = startChunk * CHUNK_BYTES;
  try {
    for await (const chunk of plaintext(startChunk * CHUNK_BYTES)) {
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

function concatParts(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Run an upload to completion, continuing from the relay's offset after interruptions. */
async function runUpload(
  ctx: Context,
  up: PendingUpload,
  plaintext: (position: number) => AsyncIterable<Uint8Array>,
  onProgress?: ProgressListener,
  signal?: AbortSignal,
): Promise<void> {
  let lastError: unknown;
  // The relay lets one upload write a version at a time (a lease of up to 60 s: a crashed writer's expires).
  const leaseDeadline = Date.now() + 75_000;
  const sent: SentState = { acked: up.acked ?? 0, tags: new Map(up.sentTags ?? []), partBytes: UPLOAD_PART_BYTES };
  for (let attempt = 0; attempt < UPLOAD_ATTEMPTS; attempt++) {
    signal?.throwIfAborted();
    const file = await ctx.api.getFile(up.fileId);
    const target =
      file.version === up.version
        ? { received: file.received, complete: file.complete }
        : file.pending?.version === up.version
          ? { ...file.pending, complete: false }
          : null;
    if (!target) {
      // A revocation finished meanwhile (the pending version became current and complete), or another device replaced it.
      if (file.version >= up.version && file.complete) return;
      throw new InvalidArgumentError(`file ${up.fileId} no longer has the version ${up.version} this upload was writing`);
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

async function rememberUpload(ctx: Context, up: PendingUpload): Promise<void> {
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
      sent.acked = Math.max(sent.acked, stored.acked ?? 0);
      for (const [i, tag] of stored.sentTags ?? []) {
        const mine = sent.tags.get(i);
        if (mine && !equal(mine, tag)) throw new SourceChangedError('another process sent different data for this upload under the same key and nonce');
        if (!mine && payloadOffsetOfChunk(i + 1) > sent.acked) sent.tags.set(i, tag);
      }
    }
    r.uploads.set(up.fileId, { ...up, acked: sent.acked, sentTags: [...sent.tags] });
    tx.set('uploads', r);
  });
}

async function forgetUpload(ctx: Context, fileId: string): Promise<void> {
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
    if (earlier.size !== source.size || earlier.mtimeMs !== source.mtimeMs) {
      // The interrupted upload's source changed: its partial payload is useless.
      await discardUpload(ctx, earlier);
    } else {
      try {
        await runUpload(ctx, earlier, (at) => source.read(at), options.onProgress, options.signal);
      } catch (e) {
        // A source that changed under the upload cannot be resumed: drop it; the next put starts afresh.
        if (e instanceof SourceChangedError) await discardUpload(ctx, earlier);
        throw e;
      }
      await forgetUpload(ctx, earlier.fileId);
      return { file: await describe(ctx, await ctx.api.getFile(earlier.fileId)), skipped: [], resumed: true };
    }
  }
  const { recipients, skipped } = await recipientsOf(ctx, readers, options.acceptNewKey ?? false);
  const fileKey = generateFileKey(ctx.p);
  const nonce = ctx.p.randomBytes(PAYLOAD_NONCE_BYTES);
  const header = await rewrapHeader(ctx.p, fileKey, recipients);
  const access = await signFileAccess(ctx.p, ctx.account.masterSeed, fileKey, ctx.account.user, readers);
  const meta = await sealFileMeta(ctx.p, fileKey, { name: source.name, size: source.size, mtimeMs: source.mtimeMs }, access);
  const size = payloadSize(source.size);
  const created = await ctx.api.createFile({ header, meta, payloadSize: size, readers: access.readers });
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

/** Continue the unfinished revocation re-encryptions of this device (their source is the relay itself). */
export async function resumeRevocations(ctx: Context, onProgress?: ProgressListener): Promise<string[]> {
  const done: string[] = [];
  for (const up of await pendingUploads(ctx)) {
    if (up.kind !== 'revoke') continue;
    await runUpload(ctx, up, (at) => previousPlaintext(ctx, up, at), onProgress);
    await forgetUpload(ctx, up.fileId);
    done.push(up.fileId);
  }
  return done;
}

// ---- download -----------------------------------------------------------------------------------

/** The file's description and plaintext, streamed into the sink `open(meta)` returns. */
export async function getFile(
  ctx: Context,
  id: string,
  open: (meta: FileMeta, file: FileSummary) => Promise<FileSink>,
  onProgress?: ProgressListener,
): Promise<FileSummary> {
  const file = await ctx.api.getFile(id);
  if (!file.complete) throw new InvalidArgumentError(`file ${id} is still being uploaded`);
  const fileKey = await fileKeyOf(ctx, file);
  try {
    const sealed = await openVerified(ctx, file, fileKey);
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
        const block = parts.length === 1 ? (parts[0] as Uint8Array) : concatParts(parts, size);
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
async function* previousPlaintext(ctx: Context, up: PendingUpload, position: number): AsyncIterable<Uint8Array> {
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

// ---- listing, sharing, revoking -------------------------------------------------------------------

export async function listFiles(ctx: Context): Promise<FileSummary[]> {
  const files = await ctx.api.listFiles();
  const out: FileSummary[] = [];
  const owners = new Map<string, Uint8Array>();
  for (const f of files) out.push(await describe(ctx, f, owners));
  return out;
}

export async function statFile(ctx: Context, id: string): Promise<FileSummary> {
  return describe(ctx, await ctx.api.getFile(id));
}

async function ownedFile(ctx: Context, id: string): Promise<RelayFile> {
  const file = await ctx.api.getFile(id);
  if (file.owner !== ctx.account.user) throw new FileOwnerOnlyError(id, file.owner);
  if (!file.complete) throw new InvalidArgumentError(`file ${id} is still being uploaded: finish the upload first (run the same \`file put\` again)`);
  return file;
}

/** New header for the same file key: current devices of the owner and `readers`. Payload untouched. */
/**
 * New header for the same file key: current devices of the owner and of the readers `change`
 * makes of the reader list we signed (never the relay's list). Payload untouched.
 */
async function rewrapTo(
  ctx: Context,
  file: RelayFile,
  change: (signed: readonly string[]) => string[],
  acceptNewKey: boolean,
): Promise<{ file: FileSummary; skipped: Recipients['skipped'] }> {
  const fileKey = await fileKeyOf(ctx, file);
  try {
    const sealed = await openVerified(ctx, file, fileKey);
    const access = await signFileAccess(ctx.p, ctx.account.masterSeed, fileKey, ctx.account.user, change(sealed.access.readers));
    const { recipients, skipped } = await recipientsOf(ctx, access.readers, acceptNewKey);
    const header = await rewrapHeader(ctx.p, fileKey, recipients);
    const meta = await sealFileMeta(ctx.p, fileKey, sealed.meta, access);
    await ctx.api.replaceFileHeader(file.id, { expectedRevision: file.revision, header, meta, readers: access.readers });
    return { file: await describe(ctx, await ctx.api.getFile(file.id)), skipped };
  } finally {
    wipe(fileKey);
  }
}

/** Give `user` (all their current devices) access to the file. */
export async function shareFile(ctx: Context, id: string, user: string, options: { acceptNewKey?: boolean } = {}) {
  const [who] = checkUsers([user], ctx.account.user);
  if (!who) throw new InvalidArgumentError('you already own this file');
  const file = await ownedFile(ctx, id);
  return rewrapTo(ctx, file, (signed) => [...new Set([...signed, who])], options.acceptNewKey ?? false);
}

/** Re-wrap the file key for the current devices of the owner and every reader (devices linked since). */
export async function rewrapFile(ctx: Context, id: string, options: { acceptNewKey?: boolean } = {}) {
  const file = await ownedFile(ctx, id);
  return rewrapTo(ctx, file, (signed) => [...signed], options.acceptNewKey ?? false);
}

/**
 * Take `user`'s access away: they leave the reader list at once, and the file is re-encrypted
 * under a new file key for everyone else; the relay deletes the old payload when the new one is
 * complete. What they downloaded before stays theirs.
 */
export async function revokeFile(
  ctx: Context,
  id: string,
  user: string,
  options: { onProgress?: ProgressListener; acceptNewKey?: boolean; signal?: AbortSignal } = {},
) {
  // An interrupted revocation of this file (by this device) is finished first.
  const unfinished = (await pendingUploads(ctx)).find((u) => u.kind === 'revoke' && u.fileId === id);
  /** Readers an unfinished revocation kept, when it has to start afresh. */
  let restart: readonly string[] | undefined;
  if (unfinished) {
    try {
      await runUpload(ctx, unfinished, (at) => previousPlaintext(ctx, unfinished, at), options.onProgress, options.signal);
    } catch (e) {
      // The relay served other bytes, or reports less than it acknowledged: that re-encryption
      // cannot be resumed safely. It starts again under a fresh key, keeping the readers it kept.
      const unsafe = e instanceof SourceChangedError || (e instanceof RelayError && e.relayCode === 'bad_response');
      if (!unsafe || !unfinished.readers) throw e;
      restart = unfinished.readers;
    }
    await forgetUpload(ctx, id);
    if (!restart) {
      // That revocation may have been of `user`: the signed list of the new version says.
      const done = await ctx.api.getFile(id);
      const key = await fileKeyOf(ctx, done);
      try {
        const sealed = await openVerified(ctx, done, key);
        if (!sealed.access.readers.includes(user)) return { file: summary(done, sealed), skipped: [] };
      } finally {
        wipe(key);
      }
    }
  }
  const file = await ownedFile(ctx, id);
  const previousFileKey = await fileKeyOf(ctx, file);
  const sealed = await openVerified(ctx, file, previousFileKey);
  const meta = sealed.meta;
  const base = restart ?? sealed.access.readers;
  if (!restart && !base.includes(user)) throw new InvalidArgumentError(`${user} is not a reader of file ${id}`);
  const fileKey = generateFileKey(ctx.p);
  const access = await signFileAccess(
    ctx.p,
    ctx.account.masterSeed,
    fileKey,
    ctx.account.user,
    base.filter((r) => r !== user),
  );
  const { recipients, skipped } = await recipientsOf(ctx, access.readers, options.acceptNewKey ?? false);
  const nonce = ctx.p.randomBytes(PAYLOAD_NONCE_BYTES);
  const header = await rewrapHeader(ctx.p, fileKey, recipients);
  const newMeta = await sealFileMeta(ctx.p, fileKey, meta, access);
  const size = payloadSize(meta.size);
  const created = await ctx.api.createFileVersion(id, { expectedRevision: file.revision, header, meta: newMeta, payloadSize: size, readers: access.readers });
  const up: PendingUpload = {
    fileId: id,
    version: created.version,
    kind: 'revoke',
    fileKey,
    nonce,
    payloadSize: size,
    size: meta.size,
    source: `relay:${id}`,
    mtimeMs: meta.mtimeMs ?? 0,
    previousFileKey,
    previousVersion: file.version,
    readers: access.readers,
    startedAt: ctx.now(),
  };
  await rememberUpload(ctx, up);
  await runUpload(ctx, up, (at) => previousPlaintext(ctx, up, at), options.onProgress, options.signal);
  await forgetUpload(ctx, id);
  return { file: await describe(ctx, await ctx.api.getFile(id)), skipped };
}

export async function removeFile(ctx: Context, id: string): Promise<void> {
  const file = await ctx.api.getFile(id);
  if (file.owner !== ctx.account.user) throw new FileOwnerOnlyError(id, file.owner);
  await ctx.api.deleteFile(id);
  await forgetUpload(ctx, id);
}

// ---- export ---------------------------------------------------------------------------------------

export interface ExportResult {
  readonly file: FileSummary;
  /** `AGE-SECRET-KEY-1…`: decrypts the exported file. A secret. */
  readonly identity: string;
  /** `age1…`: its public recipient. */
  readonly recipient: string;
}

/**
 * A standard age file of the stored one: its header re-wrapped for a fresh X25519 identity (same
 * file key; payload bytes as stored), written to `sink`. The payload is verified on the way.
 */
export async function exportFile(ctx: Context, id: string, open: (meta: FileMeta) => Promise<FileSink>, onProgress?: ProgressListener): Promise<ExportResult> {
  const file = await ctx.api.getFile(id);
  if (!file.complete) throw new InvalidArgumentError(`file ${id} is still being uploaded`);
  const fileKey = await fileKeyOf(ctx, file);
  try {
    const sealed = await openVerified(ctx, file, fileKey);
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
