/**
 * The relay's backup routes (docs/API.md §9), and the OPAQUE client (RFC 9807, through
 * `@serenity-kit/opaque`, loaded on first use: its WebAssembly is only needed for passphrases).
 *
 * OPAQUE's key stretching is Argon2id with m = 64 MiB, t = 3, p = 4 ("memory-constrained", RFC 9106
 * §4's second recommended option; docs/RECOVERY.md), run on the device between the OPRF and the
 * envelope, so every passphrase guess costs that much, on- or offline.
 */
import { shapes } from '@blindrelay/protocol/wire';
import { answer, type Body, bytesOf, type RelayApi } from '../api.js';
import { fromBase64url, toBase64url } from '../base64url.js';
import { BackupCorruptError, BackupLockedError, ForbiddenError, NotFoundError, RelayError, WrongBackupSecretError } from '../errors.js';
import type { BackupKind } from './backup-format.js';

/** OPAQUE's key-stretching function (Argon2id parameters in docs/RECOVERY.md). */
export const OPAQUE_KEY_STRETCHING = 'memory-constrained' as const;
/** The same parameters, for the docs and tests: Argon2id m (KiB), t, p. */
export const OPAQUE_ARGON2ID = Object.freeze({ m: 65536, t: 3, p: 4 });

type Opaque = typeof import('@serenity-kit/opaque');
let loaded: Promise<Opaque> | undefined;
export function loadOpaque(): Promise<Opaque> {
  loaded ??= import('@serenity-kit/opaque').then(async (m) => {
    await m.ready;
    return m;
  });
  return loaded;
}

/** What the relay releases once the secret is proved. */
export interface ReleasedBackup {
  readonly kind: BackupKind;
  readonly wrappedKey: Uint8Array;
  readonly blob: Uint8Array;
  readonly generation: number;
  readonly masterKey: Uint8Array;
  readonly deviceList: Uint8Array;
}

export interface RelayBackupStatus {
  readonly kind: BackupKind;
  readonly generation: number;
  readonly size: number;
  readonly updatedAt: number;
  readonly failedAttempts: number;
  readonly maxAttempts: number;
  readonly locked: boolean;
}

const path = (user: string, rest: string) => `/v1/backups/${encodeURIComponent(user)}/${rest}`;
const bad = (what: string) => new RelayError('ERR_RELAY', 200, 'bad_response', `relay: malformed response (${what})`);

/** The released backup, checked against the wire contract's BACKUP_RELEASED. */
function released(v: unknown): ReleasedBackup {
  const d = answer(shapes.BACKUP_RELEASED, v, 'backup');
  return {
    kind: d.kind,
    wrappedKey: bytesOf(d.wrappedKey),
    blob: bytesOf(d.blob),
    generation: d.generation,
    masterKey: bytesOf(d.masterKey),
    deviceList: bytesOf(d.deviceList),
  };
}

/** The relay's refusals as the SDK's backup errors. */
function refused(e: unknown): never {
  if (e instanceof ForbiddenError)
    throw new WrongBackupSecretError('the relay refused: wrong recovery code or passphrase, or no backup of that kind for this user. Nothing was changed');
  if (e instanceof RelayError && e.relayCode === 'backup_locked') throw new BackupLockedError(e.message.replace(/^relay: /, ''));
  throw e;
}

export async function backupStatus(api: RelayApi): Promise<RelayBackupStatus | null> {
  let d: Record<string, unknown>;
  try {
    d = await api.request('GET', '/v1/backup', undefined, true);
  } catch (e) {
    if (e instanceof NotFoundError) return null;
    throw e;
  }
  const a = answer(shapes.BACKUP_STATUS, d, 'backup status');
  return {
    kind: a.kind,
    generation: a.generation,
    size: a.size,
    updatedAt: a.updatedAt,
    failedAttempts: a.failedAttempts,
    maxAttempts: a.maxAttempts,
    locked: a.locked,
  };
}

export type BackupAccessUpload =
  | { readonly kind: 'code'; readonly wrappedKey: Uint8Array; readonly codeHash: Uint8Array }
  | { readonly kind: 'passphrase'; readonly wrappedKey: Uint8Array; readonly registrationRecord: string };

export async function putBackup(api: RelayApi, access: BackupAccessUpload, blob: Uint8Array): Promise<number> {
  const body: Body<typeof shapes.BACKUP_PUT_REQUEST> = {
    kind: access.kind,
    wrappedKey: toBase64url(access.wrappedKey),
    blob: toBase64url(blob),
    ...(access.kind === 'code' ? { codeHash: toBase64url(access.codeHash) } : { registrationRecord: access.registrationRecord }),
  };
  return answer(shapes.BACKUP_STORED, await api.request('PUT', '/v1/backup', body, true), 'backup').generation;
}

/** Replace the blob (compare-and-set); ConflictError if the relay holds another generation. */
export async function replaceBackupBlob(api: RelayApi, blob: Uint8Array, expectedGeneration: number): Promise<number> {
  const body: Body<typeof shapes.BACKUP_BLOB_REQUEST> = { blob: toBase64url(blob), expectedGeneration };
  return answer(shapes.BACKUP_STORED, await api.request('PUT', '/v1/backup/blob', body, true), 'backup').generation;
}

/** OPAQUE registration (RFC 9807 §5.2) of a new passphrase: the record for the relay and the export key. */
export async function registerPassphrase(api: RelayApi, passphrase: string): Promise<{ registrationRecord: string; exportKey: Uint8Array }> {
  const opaque = await loadOpaque();
  const { clientRegistrationState, registrationRequest } = opaque.client.startRegistration({ password: passphrase });
  const start: Body<typeof shapes.OPAQUE_REGISTRATION_START> = { registrationRequest };
  const d = answer(shapes.OPAQUE_REGISTRATION, await api.request('POST', '/v1/backup/registration', start, true), 'registration');
  let r: { registrationRecord: string; exportKey: string };
  try {
    r = opaque.client.finishRegistration({
      clientRegistrationState,
      registrationResponse: d.registrationResponse,
      password: passphrase,
      keyStretching: OPAQUE_KEY_STRETCHING,
    });
  } catch {
    throw bad('registrationResponse');
  }
  return { registrationRecord: r.registrationRecord, exportKey: fromBase64url(r.exportKey) };
}

/** The backup, released for the access secret of a recovery code. */
export async function fetchWithCode(api: RelayApi, user: string, accessSecret: Uint8Array): Promise<ReleasedBackup> {
  try {
    const body: Body<typeof shapes.BACKUP_CODE_REQUEST> = { accessSecret: toBase64url(accessSecret) };
    return released(await api.request('POST', path(user, 'code'), body));
  } catch (e) {
    refused(e);
  }
}

/**
 * The backup, released after an OPAQUE login with the passphrase (RFC 9807 §6). Every login the
 * relay starts counts as an attempt until one finishes. A wrong passphrase is detected here (the
 * envelope does not open) and the login is not finished.
 */
export async function fetchWithPassphrase(api: RelayApi, user: string, passphrase: string): Promise<{ backup: ReleasedBackup; exportKey: Uint8Array }> {
  const opaque = await loadOpaque();
  const { clientLoginState, startLoginRequest } = opaque.client.startLogin({ password: passphrase });
  let start: Body<typeof shapes.OPAQUE_LOGIN>;
  try {
    const body: Body<typeof shapes.OPAQUE_LOGIN_START> = { startLoginRequest };
    start = answer(shapes.OPAQUE_LOGIN, await api.request('POST', path(user, 'login'), body), 'login');
  } catch (e) {
    refused(e);
  }
  let finish: ReturnType<Opaque['client']['finishLogin']>;
  try {
    finish = opaque.client.finishLogin({ clientLoginState, loginResponse: start.loginResponse, password: passphrase, keyStretching: OPAQUE_KEY_STRETCHING });
  } catch {
    throw new BackupCorruptError('the relay sent a malformed OPAQUE login response');
  }
  if (!finish) {
    throw new WrongBackupSecretError('wrong passphrase, or no passphrase backup for this user (the attempt was counted). Nothing was changed');
  }
  try {
    const body: Body<typeof shapes.OPAQUE_LOGIN_FINISH> = { loginId: start.loginId, finishLoginRequest: finish.finishLoginRequest };
    const d = await api.request('POST', path(user, 'login/finish'), body);
    return { backup: released(d), exportKey: fromBase64url(finish.exportKey) };
  } catch (e) {
    refused(e);
  }
}
