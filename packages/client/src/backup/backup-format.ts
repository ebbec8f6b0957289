/**
 * The encrypted key backup's formats and key derivations (docs/PROTOCOL.md §18, docs/RECOVERY.md).
 *
 *   backup key  32 random bytes, made on the device, kept in its profile (so it can re-encrypt
 *               the backup whenever keys change, without the code or passphrase)
 *   blob        "BRB1" ‖ nonce[12] ‖ AES-256-GCM(backup key, nonce, Padmé-padded contents,
 *               ad = "BRB1" ‖ 0x00 ‖ user)
 *   wrapped key "BRK1" ‖ kind[1] ‖ nonce[12] ‖ AES-256-GCM(wrap key, nonce, backup key,
 *               ad = "BRK1" ‖ kind ‖ 0x00 ‖ user)          kind 1: recovery code, 2: passphrase
 *   contents    JSON (below), version BACKUP_CONTENTS_VERSION
 *
 * Wrap keys (§18.2):
 *   recovery code  ikm = the 28 canonical symbols (ASCII), salt = BACKUP_SALT
 *                  access secret = HKDF(ikm, salt, "blindrelay backup access v1" ‖ 0x00 ‖ user, 32)
 *                  wrap key      = HKDF(ikm, salt, "blindrelay backup wrap code v1" ‖ 0x00 ‖ user, 32)
 *                  the relay stores SHA-256(access secret) and never sees the wrap key
 *   passphrase     OPAQUE (RFC 9807) export key, from the passphrase through the OPRF and
 *                  Argon2id (m = 64 MiB, t = 3, p = 4); the relay never sees it
 *                  wrap key      = HKDF(export key, BACKUP_SALT, "blindrelay backup wrap passphrase v1" ‖ 0x00 ‖ user, 32)
 */
import { concat, type Primitives, pad, unpad, utf8 } from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from '../base64url.js';
import { BackupCorruptError, BackupTooLargeError, WrongBackupSecretError } from '../errors.js';

export const BACKUP_BLOB_MAGIC = utf8('BRB1');
export const WRAPPED_KEY_MAGIC = utf8('BRK1');
export const BACKUP_KEY_BYTES = 32;
export const WRAPPED_KEY_BYTES = 4 + 1 + 12 + BACKUP_KEY_BYTES + 16;
const NONCE_BYTES = 12;
/** §18.2: HKDF salt of every backup derivation. */
export const BACKUP_SALT = utf8('blindrelay backup v1');
export const LABEL_ACCESS = 'blindrelay backup access v1';
export const LABEL_WRAP_CODE = 'blindrelay backup wrap code v1';
export const LABEL_WRAP_PASSPHRASE = 'blindrelay backup wrap passphrase v1';
export const BACKUP_CONTENTS_FORMAT = 'blindrelay-backup';
export const BACKUP_CONTENTS_VERSION = 1;
/** Largest blob the relay stores (docs/API.md §9). */
export const MAX_BACKUP_BYTES = 1024 * 1024;

export type BackupKind = 'code' | 'passphrase';
const KIND_BYTE: Record<BackupKind, number> = { code: 1, passphrase: 2 };

export interface BackupContact {
  readonly user: string;
  readonly masterKey: Uint8Array;
  readonly verified: boolean;
  readonly pinnedAt: number;
}
export interface BackupFileKey {
  /** File id (base64url of 16 bytes). */
  readonly id: string;
  readonly version: number;
  /** The 16-byte age file key of that version. */
  readonly key: Uint8Array;
}
/** What a backup holds. Messages and sessions are not in it (docs/RECOVERY.md). */
export interface BackupContents {
  readonly user: string;
  /** The user's Ed25519 master key seed (the identity: safety numbers derive from its public key). */
  readonly masterSeed: Uint8Array;
  /** Pinned master keys of contacts and whether each was verified by safety number. */
  readonly contacts: readonly BackupContact[];
  /** Every file key the user could read when the backup was made. */
  readonly files: readonly BackupFileKey[];
  readonly createdAt: number;
}

const label = (name: string, user: string) => concat(utf8(name), Uint8Array.of(0), utf8(user));

/** §18.2: the access secret (sent to the relay, stored there only as SHA-256) and the wrap key of a recovery code. */
export async function codeSecrets(p: Primitives, canonicalCode: string, user: string): Promise<{ accessSecret: Uint8Array; wrapKey: Uint8Array }> {
  const ikm = utf8(canonicalCode);
  try {
    return {
      accessSecret: await p.hkdfSha256(ikm, BACKUP_SALT, label(LABEL_ACCESS, user), 32),
      wrapKey: await p.hkdfSha256(ikm, BACKUP_SALT, label(LABEL_WRAP_CODE, user), 32),
    };
  } finally {
    ikm.fill(0);
  }
}

/** §18.2: the wrap key of a passphrase backup, from the OPAQUE export key. */
export function passphraseWrapKey(p: Primitives, exportKey: Uint8Array, user: string): Promise<Uint8Array> {
  return p.hkdfSha256(exportKey, BACKUP_SALT, label(LABEL_WRAP_PASSPHRASE, user), 32);
}

export async function wrapBackupKey(p: Primitives, wrapKey: Uint8Array, kind: BackupKind, user: string, backupKey: Uint8Array): Promise<Uint8Array> {
  const k = Uint8Array.of(KIND_BYTE[kind]);
  const nonce = p.randomBytes(NONCE_BYTES);
  const prefix = concat(WRAPPED_KEY_MAGIC, k, nonce);
  const sealed = await p.aesGcmSeal(wrapKey, nonce, backupKey, concat(WRAPPED_KEY_MAGIC, k, label('', user)), prefix.length);
  sealed.set(prefix, 0);
  return sealed;
}

/** WrongBackupSecretError if `wrapKey` does not open it (the secret is not the one it was wrapped under). */
export async function unwrapBackupKey(p: Primitives, wrapKey: Uint8Array, kind: BackupKind, user: string, wrapped: Uint8Array): Promise<Uint8Array> {
  const k = Uint8Array.of(KIND_BYTE[kind]);
  if (wrapped.length !== WRAPPED_KEY_BYTES || !startsWith(wrapped, WRAPPED_KEY_MAGIC) || wrapped[4] !== k[0]) {
    throw new BackupCorruptError('the relay sent a malformed wrapped backup key');
  }
  const key = await p.aesGcmOpen(wrapKey, wrapped.subarray(5, 17), wrapped.subarray(17), concat(WRAPPED_KEY_MAGIC, k, label('', user)));
  if (!key) throw new WrongBackupSecretError('the backup key does not open with this secret');
  return key;
}

export async function sealBackup(p: Primitives, backupKey: Uint8Array, contents: BackupContents): Promise<Uint8Array> {
  const nonce = p.randomBytes(NONCE_BYTES);
  const prefix = concat(BACKUP_BLOB_MAGIC, nonce);
  const plain = pad(encodeContents(contents));
  try {
    const sealed = await p.aesGcmSeal(backupKey, nonce, plain, label('BRB1', contents.user), prefix.length);
    sealed.set(prefix, 0);
    if (sealed.length > MAX_BACKUP_BYTES) {
      throw new BackupTooLargeError(
        `the backup is ${sealed.length} bytes encrypted, more than the relay stores (${MAX_BACKUP_BYTES}): about 13,000 file keys fit`,
      );
    }
    return sealed;
  } finally {
    plain.fill(0);
  }
}

export async function openBackup(p: Primitives, backupKey: Uint8Array, user: string, blob: Uint8Array): Promise<BackupContents> {
  if (blob.length < 4 + NONCE_BYTES + 16 || !startsWith(blob, BACKUP_BLOB_MAGIC)) throw new BackupCorruptError('the relay sent a malformed backup');
  const padded = await p.aesGcmOpen(backupKey, blob.subarray(4, 16), blob.subarray(16), label('BRB1', user));
  if (!padded) throw new BackupCorruptError('the backup does not decrypt under its key (corrupted or replaced)');
  const plain = unpad(padded);
  if (!plain) throw new BackupCorruptError('the backup is malformed (padding)');
  const contents = decodeContents(plain);
  if (contents.user !== user) throw new BackupCorruptError(`the backup belongs to ${contents.user}, not ${user}`);
  return contents;
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}

// ---- contents (JSON) ----------------------------------------------------------------------------

export function encodeContents(c: BackupContents): Uint8Array {
  return utf8(
    JSON.stringify({
      format: BACKUP_CONTENTS_FORMAT,
      version: BACKUP_CONTENTS_VERSION,
      user: c.user,
      masterSeed: toBase64url(c.masterSeed),
      contacts: c.contacts.map((x) => ({ user: x.user, masterKey: toBase64url(x.masterKey), verified: x.verified, pinnedAt: x.pinnedAt })),
      files: c.files.map((f) => ({ id: f.id, version: f.version, key: toBase64url(f.key) })),
      createdAt: c.createdAt,
    }),
  );
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function bytes(v: unknown, n: number, what: string): Uint8Array {
  if (typeof v !== 'string') throw new BackupCorruptError(`backup: ${what} is missing`);
  let b: Uint8Array;
  try {
    b = fromBase64url(v);
  } catch {
    throw new BackupCorruptError(`backup: ${what} is not base64url`);
  }
  if (b.length !== n) throw new BackupCorruptError(`backup: ${what} has ${b.length} bytes, not ${n}`);
  return b;
}

export function decodeContents(plain: Uint8Array): BackupContents {
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plain));
  } catch {
    throw new BackupCorruptError('backup: not JSON');
  }
  if (!isObject(o) || o.format !== BACKUP_CONTENTS_FORMAT) throw new BackupCorruptError('backup: not a Blindrelay backup');
  if (o.version !== BACKUP_CONTENTS_VERSION)
    throw new BackupCorruptError(`backup: version ${String(o.version)} is not one this SDK reads (${BACKUP_CONTENTS_VERSION})`);
  if (typeof o.user !== 'string' || !Array.isArray(o.contacts) || !Array.isArray(o.files) || !Number.isSafeInteger(o.createdAt)) {
    throw new BackupCorruptError('backup: malformed');
  }
  const contacts = o.contacts.map((x): BackupContact => {
    if (!isObject(x) || typeof x.user !== 'string' || typeof x.verified !== 'boolean' || !Number.isSafeInteger(x.pinnedAt))
      throw new BackupCorruptError('backup: malformed contact');
    return { user: x.user, masterKey: bytes(x.masterKey, 32, 'contact master key'), verified: x.verified, pinnedAt: x.pinnedAt as number };
  });
  const files = o.files.map((f): BackupFileKey => {
    if (!isObject(f) || typeof f.id !== 'string' || !Number.isSafeInteger(f.version) || (f.version as number) < 1)
      throw new BackupCorruptError('backup: malformed file entry');
    return { id: f.id, version: f.version as number, key: bytes(f.key, 16, 'file key') };
  });
  return { user: o.user, masterSeed: bytes(o.masterSeed, 32, 'master seed'), contacts, files, createdAt: o.createdAt as number };
}
