/**
 * The encrypted key backup of a device (docs/RECOVERY.md, docs/PROTOCOL.md §18).
 *
 * `create` makes a random backup key, encrypts the backup contents under it (backup-format.ts),
 * wraps the key under a new recovery code (shown once) or a passphrase (through OPAQUE), and
 * stores both on the relay with the proof of the secret (SHA-256 of the code's access secret, or
 * the OPAQUE record). The device keeps the backup key in its profile, so `sync` can encrypt the
 * backup again whenever what it holds changes (a new readable file, a verified contact, a key
 * change) without the code or passphrase. The relay only ever holds ciphertext.
 */
import { equal, type Primitives } from '@blindrelay/protocol';
import type { Context } from '../context.js';
import { ConflictError, FileAccessError, FileCorruptError, InvalidArgumentError, NoBackupError, NotFoundError, NotPrimaryError } from '../errors.js';
import { fileKeyOf } from '../files/access.js';
import type { BackupStateRecord } from '../profile.js';
import { type BackupAccessUpload, backupStatus, putBackup, type RelayBackupStatus, registerPassphrase, replaceBackupBlob } from './backup-api.js';
import {
  BACKUP_KEY_BYTES,
  type BackupContents,
  type BackupFileKey,
  type BackupKind,
  codeSecrets,
  encodeContents,
  passphraseWrapKey,
  sealBackup,
  wrapBackupKey,
} from './backup-format.js';
import { generateRecoveryCode } from './recovery-code.js';

/** Shortest passphrase accepted for a backup (it is also guess-limited by OPAQUE: docs/RECOVERY.md). */
export const MIN_BACKUP_PASSPHRASE = 10;
/** How often receive/listen compare the backup with what the device holds (new files shared with us). */
export const BACKUP_CHECK_INTERVAL_MS = 60 * 60_000;

export interface CreateBackupOptions {
  /** Protect the backup with this passphrase (OPAQUE + Argon2id) instead of a new recovery code. */
  readonly passphrase?: string;
}
export interface CreateBackupResult {
  readonly kind: BackupKind;
  /** The new recovery code (kind `code`): shown once, never stored on the device or the relay. */
  readonly recoveryCode?: string;
  readonly generation: number;
  readonly files: number;
  readonly contacts: number;
  readonly size: number;
}
export interface SyncResult {
  /** False when nothing changed since the last upload (or no backup is kept here). */
  readonly uploaded: boolean;
  readonly generation: number;
}
export interface BackupInfo {
  /** This device keeps a backup up to date. */
  readonly enabled: boolean;
  readonly kind: BackupKind | null;
  readonly generation: number;
  readonly checkedAt: number;
  /** File keys held from a restore. */
  readonly recoveredFileKeys: number;
  /** What the relay holds (null: no backup there). */
  readonly relay: RelayBackupStatus | null;
}

const sha256 = (p: Primitives, b: Uint8Array) => p.sha256(b);

/** What the backup holds now: the master seed, contacts' pinned keys and verification, every readable file key. */
export async function collectContents(ctx: Context): Promise<BackupContents> {
  // Only the primary holds the master seed (custody, PROTOCOL.md §16): a companion has nothing to back up.
  const masterSeed = ctx.account.masterSeed;
  if (!masterSeed) throw new NotPrimaryError('a key backup');
  const contacts = [...(await ctx.profile.read('contacts')).contacts]
    .filter(([user]) => user !== ctx.account.user)
    .map(([user, c]) => ({ user, masterKey: c.masterKey, verified: c.verified, pinnedAt: c.pinnedAt }))
    .sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  const files: BackupFileKey[] = [];
  for (const f of await ctx.api.listFiles()) {
    if (!f.complete) continue;
    try {
      files.push({ id: f.id, version: f.version, key: await fileKeyOf(ctx, f) });
    } catch (e) {
      // Not readable by this device (no stanza yet, or a corrupt header): nothing to back up.
      if (!(e instanceof FileAccessError || e instanceof FileCorruptError)) throw e;
    }
  }
  files.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { user: ctx.account.user, masterSeed, contacts, files, createdAt: ctx.now() };
}

/** The digest that decides whether the backup changed (contents without their time). */
const digestOf = (p: Primitives, c: BackupContents) => sha256(p, encodeContents({ ...c, createdAt: 0 }));

/** Make a new backup (new backup key, new code or passphrase); replaces any earlier one and its access. */
export async function createBackup(ctx: Context, options: CreateBackupOptions = {}): Promise<CreateBackupResult> {
  const p = ctx.p;
  const user = ctx.account.user;
  if (options.passphrase !== undefined && options.passphrase.normalize('NFC').length < MIN_BACKUP_PASSPHRASE) {
    throw new InvalidArgumentError(`a backup passphrase has at least ${MIN_BACKUP_PASSPHRASE} characters`);
  }
  const backupKey = p.randomBytes(BACKUP_KEY_BYTES);
  const contents = await collectContents(ctx);
  const blob = await sealBackup(p, backupKey, contents);
  let access: BackupAccessUpload;
  let recoveryCode: string | undefined;
  let kind: BackupKind;
  if (options.passphrase !== undefined) {
    kind = 'passphrase';
    const { registrationRecord, exportKey } = await registerPassphrase(ctx.api, options.passphrase.normalize('NFC'));
    const wrapKey = await passphraseWrapKey(p, exportKey, user);
    access = { kind, wrappedKey: await wrapBackupKey(p, wrapKey, kind, user, backupKey), registrationRecord };
    exportKey.fill(0);
    wrapKey.fill(0);
  } else {
    kind = 'code';
    const code = generateRecoveryCode(p);
    const { accessSecret, wrapKey } = await codeSecrets(p, code.canonical, user);
    access = { kind, wrappedKey: await wrapBackupKey(p, wrapKey, kind, user, backupKey), codeHash: await sha256(p, accessSecret) };
    accessSecret.fill(0);
    wrapKey.fill(0);
    recoveryCode = code.formatted;
  }
  const generation = await putBackup(ctx.api, access, blob);
  const digest = await digestOf(p, contents);
  await ctx.profile.transact(async (tx) => {
    const state = await tx.get('backup');
    tx.set('backup', { ...state, key: backupKey, kind, generation, digest, checkedAt: ctx.now() });
  });
  return {
    kind,
    ...(recoveryCode ? { recoveryCode } : {}),
    generation,
    files: contents.files.length,
    contacts: contents.contacts.length,
    size: blob.length,
  };
}

/**
 * Encrypt the backup again if what it holds changed since the last upload (`force`: in any case).
 * Only a device that created or restored the backup holds its key; others do nothing.
 */
export async function syncBackup(ctx: Context, options: { force?: boolean } = {}): Promise<SyncResult> {
  const state = await ctx.profile.read('backup');
  if (!state.key) return { uploaded: false, generation: 0 };
  const key = state.key;
  const contents = await collectContents(ctx);
  const digest = await digestOf(ctx.p, contents);
  if (!options.force && state.digest && equal(state.digest, digest)) {
    await touch(ctx, { checkedAt: ctx.now() });
    return { uploaded: false, generation: state.generation };
  }
  const blob = await sealBackup(ctx.p, key, contents);
  let generation: number;
  try {
    generation = await replaceBackupBlob(ctx.api, blob, state.generation);
  } catch (e) {
    if (e instanceof NotFoundError) throw new NoBackupError('the relay holds no backup of this user any more: run `blindrelay backup create`');
    if (!(e instanceof ConflictError)) throw e;
    // Another device holding the same backup key replaced it: ours is as complete as this device knows; once more on theirs.
    const held = await backupStatus(ctx.api);
    if (!held) throw new NoBackupError('the relay holds no backup of this user any more: run `blindrelay backup create`');
    generation = await replaceBackupBlob(ctx.api, blob, held.generation);
  }
  await touch(ctx, { generation, digest, checkedAt: ctx.now() });
  return { uploaded: true, generation };
}

/** Sync when this device keeps a backup and (with `maxAgeMs`) it was last checked longer ago than that. */
export async function maybeSyncBackup(ctx: Context, maxAgeMs = 0): Promise<SyncResult | null> {
  const state = await ctx.profile.read('backup');
  if (!state.key) return null;
  if (maxAgeMs > 0 && ctx.now() - state.checkedAt < maxAgeMs) return null;
  return syncBackup(ctx);
}

export async function backupInfo(ctx: Context): Promise<BackupInfo> {
  const state = await ctx.profile.read('backup');
  return {
    enabled: state.key !== null,
    kind: state.kind,
    generation: state.generation,
    checkedAt: state.checkedAt,
    recoveredFileKeys: state.recovered.size,
    relay: await backupStatus(ctx.api),
  };
}

async function touch(ctx: Context, change: Partial<BackupStateRecord>): Promise<void> {
  await ctx.profile.transact(async (tx) => {
    const state = await tx.get('backup');
    tx.set('backup', { ...state, ...change });
  });
}
