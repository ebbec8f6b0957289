/**
 * Encrypted key backups (docs/API.md §9, docs/RECOVERY.md): what the relay stores per user and
 * the atomic steps of guess-limited access. Everything stored is opaque to the relay: a blob
 * encrypted on the device, the backup key wrapped under the user's secret, and what proves the
 * secret without revealing it (SHA-256 of a code-derived access secret, or an OPAQUE record).
 */

/** 1: recovery code (access secret hash); 2: passphrase (OPAQUE record). */
export type BackupKind = 1 | 2;

export type BackupAccess =
  | { readonly kind: 1; readonly wrappedKey: Uint8Array; readonly codeHash: Uint8Array }
  | { readonly kind: 2; readonly wrappedKey: Uint8Array; readonly opaqueRecord: string };

export interface BackupRecord {
  readonly user: string;
  readonly access: BackupAccess;
  readonly blob: Uint8Array;
  /** 1 for the first upload, + 1 for every replacement (blob or access). */
  readonly generation: number;
  /** OPAQUE logins started since the last success or the last new access. */
  readonly failedAttempts: number;
  readonly updatedAt: number;
}

export type PutBackupResult =
  | { readonly status: 'stored'; readonly generation: number }
  /** `expectedGeneration` given and not the stored one (nothing changed). */
  | { readonly status: 'stale'; readonly generation: number }
  /** No such account (or, for a blob replacement, no backup yet). */
  | { readonly status: 'not_found' };

export type StartLoginResult =
  | { readonly status: 'started' }
  /** `maxAttempts` failed attempts already: nothing stored, nothing counted. */
  | { readonly status: 'locked' }
  | { readonly status: 'not_found' };

export interface BackupRepository {
  /** The relay's OPAQUE server setup: the stored one, or `candidate` if none is stored yet (then stored). */
  serverSetup(candidate: string): Promise<string>;
  get(user: string): Promise<BackupRecord | undefined>;
  /**
   * New access and blob (from a device of the user): replaces both, resets the failed attempts and
   * drops pending logins. `expectedGeneration` (optional): compare-and-set.
   */
  put(user: string, access: BackupAccess, blob: Uint8Array, now: number, expectedGeneration?: number): Promise<PutBackupResult>;
  /** A new blob under the same access: compare-and-set on the generation. */
  replaceBlob(user: string, blob: Uint8Array, expectedGeneration: number, now: number): Promise<PutBackupResult>;
  /**
   * Counts an OPAQUE login attempt and stores its server state (SHA-256 of the login id) until
   * `expiresAt`, unless `maxAttempts` attempts failed already. Atomic across relay instances.
   */
  startLogin(user: string, loginHash: Uint8Array, state: string, expiresAt: number, maxAttempts: number, now: number): Promise<StartLoginResult>;
  /** Removes and returns the login state (once), if it exists for `user` and has not expired. */
  takeLogin(user: string, loginHash: Uint8Array, now: number): Promise<string | undefined>;
  /** A finished login: the failed attempts go back to 0. */
  loginSucceeded(user: string): Promise<void>;
}
