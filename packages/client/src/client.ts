/**
 * BlindrelayClient: the SDK's entry point. One instance is one device's profile, opened.
 *
 *   const client = await BlindrelayClient.createAccount(env, { servers, user });
 *   await client.send('bob', 'hello');
 *   await client.receive({ onMessage: (m) => console.log(m.from, m.text) });
 *
 * `env` supplies the platform: primitives, profile storage, passphrase, fetch and a WebSocket
 * factory (node.ts has the Node defaults). All cryptography happens here; the relay sees
 * ciphertext and public keys only.
 */

import {
  type DeviceKeys,
  type DeviceList,
  decodeDeviceList,
  deviceEntryOf,
  equal,
  formatSafetyNumber,
  generateDeviceKeys,
  generateMasterKey,
  generateX25519,
  issueDeviceCertificate,
  isValidUserName,
  type JsonRecord,
  openProvisioning,
  type Primitives,
  proveDeviceEntry,
  provisioningSas,
  safetyNumber,
  safetyNumberMatches,
  sealProvisioning,
  signAuthChallenge,
  verifyDeviceCertificate,
  verifyDeviceList,
  wipe,
} from '@blindrelay/protocol';
import { type AccountDeletionResult, deleteAccount } from './account-deletion.js';
import { type DeviceCredentials, parseServerList, RelayApi, type RelayEnvelope, type Token, type TokenCache } from './api.js';
import {
  BACKUP_CHECK_INTERVAL_MS,
  type BackupInfo,
  backupInfo,
  type CreateBackupOptions,
  type CreateBackupResult,
  createBackup,
  maybeSyncBackup,
  type SyncResult,
  syncBackup,
} from './backup/backup.js';
import { type OpenedBackup, openRemoteBackup, type RestoreSecret } from './backup/restore.js';
import { fromBase64url } from './base64url.js';
import type { Context } from './context.js';
import { demoteToCompanion, isPrimary, masterSigner, rekeyForRemovedReaderDevices, rekeyOwnFiles, requirePrimary } from './custody.js';
import * as delivery from './delivery.js';
import { DIRECTORY_MAX_AGE_MS, resolveUser } from './directory.js';
import {
  ConflictError,
  InvalidArgumentError,
  InvalidLinkCodeError,
  LinkNotConfirmedError,
  LinkTimeoutError,
  LinkWrongUserError,
  NotFoundError,
  ProfileExistsError,
  RelayError,
  SafetyNumberMismatchError,
  UnreachableError,
  UserTakenError,
} from './errors.js';
import type { FileMeta } from './file-meta.js';
import type { DownloadOptions, ExportResult, FileSink, FileSource, FileSummary, ProgressListener, PutOptions, PutResult } from './files.js';
import * as files from './files.js';
import type { GroupFilesResult } from './groups/group-files.js';
import * as groups from './groups/groups.js';
import { decodeLinkState, encodeLinkState, formatLinkCode, LINK_STATE_COLLECTIONS_BUDGET, type LinkedDevice, parseLinkCode } from './linking.js';
import { type ListenOptions, listen } from './listen.js';
import { type RotationResult, rotateMasterKey } from './master-key-rotation.js';
import { refreshOwnList, signOwnList } from './own-list.js';
import {
  deviceKeysOf,
  generatePreKeyBatch,
  initialPreKeys,
  nextRotationAt,
  ONE_TIME_PREKEY_TARGET,
  PREKEY_LOW_WATERMARK,
  pruneBaseKeys,
  publishedPreKeys,
  reservePreKeyIds,
  rotatePreKeys,
  storePreKeyBatch,
} from './prekeys.js';
import { type AccountRecord, type Contact, type ContactsRecord, type PendingUpload, Profile, type ReceivedMessage } from './profile.js';
import { migrateProfile } from './profile-migration.js';
import { type BatchResult, contactState, dropHanded, processEnvelopes, type ReceiveFailure } from './receive.js';
import * as records from './records/collections.js';
import * as history from './records/history.js';
import { signatureHeader } from './request-signing.js';
import { SealedChannel } from './sealed-channel.js';
import { type SendOptions, type SendResult, sendText } from './send.js';
import { SendChannel } from './send-channel.js';
import { SendCoalescer } from './send-coalescer.js';
import { explainSendRefusal, type RollbackRecovery, recoverFromRollback } from './send-mark.js';
import { pruneSessions } from './sessions.js';
import { browserSealedSocketFactory, type SealedSocketFactory, type SocketFactory } from './socket.js';
import { Mutex, type ProfileStorage } from './storage/types.js';
import type { KdfParams } from './vault.js';
import { VerifiedCertificates } from './verified-certificates.js';

export interface ClientEnvironment {
  readonly primitives: Primitives;
  readonly storage: ProfileStorage;
  /** Encrypts the profile at rest when set (and is then required to open it). */
  readonly passphrase?: string | undefined;
  readonly fetch?: typeof fetch;
  /** Needed by `listen` only. */
  readonly socket?: SocketFactory;
  /**
   * The unauthenticated socket batched sealed sends go over while listening (docs/API.md §11a);
   * default: the built-in WebSocket where there is one. Without it, sealed sends go one HTTP POST each.
   */
  readonly sealedSocket?: SealedSocketFactory;
  readonly now?: () => number;
  /** Argon2id parameters for a new profile (default DEFAULT_KDF). */
  readonly kdf?: KdfParams;
  /**
   * Send with a recipient's (or our own) device list verified by a fetch at most this old instead
   * of fetching it again (default DIRECTORY_MAX_AGE_MS, 60 s; 0: fetch on every send). The relay's
   * 409 `mismatched_devices` always forces a fetch. See README, "Trust".
   */
  readonly directoryMaxAgeMs?: number;
  /**
   * Sealed sender (docs/PROTOCOL.md §20): sends to another user go sealed when a delivery token of
   * each of their devices is known (default true). false: always the authenticated path.
   */
  readonly sealedSends?: boolean;
  /**
   * Allow plain http:// to a relay that is not on this machine (127.0.0.0/8, ::1, localhost).
   * Off by default: such URLs throw InsecureTransportError before anything is sent. When on, each
   * such server is reported once through `onWarning`.
   */
  readonly allowInsecureHttp?: boolean;
  /** Warnings for the user (default: console.warn, i.e. stderr on Node). */
  readonly onWarning?: (message: string) => void;
  /**
   * Seal every message sent and received into the user's private `.history` collection, so
   * `searchHistory` finds it from any of the user's devices (records/history.ts). Default off.
   */
  readonly historySearch?: boolean;
}

export interface CreateAccountOptions {
  /** Base URLs of the relay, tried in order (a comma-separated string or a list). */
  readonly servers: string | readonly string[];
  readonly user: string;
  readonly deviceName?: string;
  /**
   * One-time prekeys of each kind (X25519, ML-KEM-768) to publish with the new device, 0 to
   * ONE_TIME_PREKEY_TARGET (the default). Fewer make the device ready sooner (ML-KEM key generation
   * is pure JavaScript in browsers); call `replenishPreKeys(true)` afterwards, in the background,
   * to reach the target. A first contact never waits for them (docs/PROTOCOL.md §6.1).
   */
  readonly oneTimePreKeys?: number;
}

export interface LinkOptions extends CreateAccountOptions {
  /**
   * Called once with the code to show (text and QR) on this new device, and its comparison code
   * (6 digits) to show beside it: the approving device shows the same digits, and its user must
   * confirm they match before anything is sent (docs/PROTOCOL.md §12.1).
   */
  readonly onCode: (code: string, sas: string) => void;
  readonly signal?: AbortSignal;
}

export interface RestoreOptions extends CreateAccountOptions, RestoreSecret {
  /** Remove every other device of the user from its list (the lost ones) in the same signed list. */
  readonly revokeOthers?: boolean;
}

export interface RestoreResult {
  readonly client: BlindrelayClient;
  /** Devices removed from the list (`revokeOthers`). */
  readonly revoked: readonly number[];
  /**
   * File keys the backup carried, and the user's own files made readable for this device: re-wrapped
   * (same file key), or with `revokeOthers` re-keyed (a new file key and version signed by this
   * device: the revoked devices could open the old one, and their signatures no longer verify).
   */
  readonly fileKeys: number;
  readonly rewrapped: readonly string[];
  /** Own files that could not be re-wrapped or re-keyed now (id and reason); they stay readable through the restored keys. */
  readonly rewrapFailed: readonly { readonly id: string; readonly reason: string }[];
  readonly contacts: number;
}

/** What the approving device shows before it seals the account to a new device. */
export interface LinkApproval {
  /** Our user: the approved companion reads and sends as it (it does not get the master key).  */
  readonly user: string;
  /** The comparison code (6 digits) of the link code: the new device must show the same. */
  readonly sas: string;
  /** The user the new device asks to join (always `user`: another is refused) and the name it gave; absent in codes from before 2026-12-03. */
  readonly requestedUser?: string;
  readonly deviceName?: string;
}

export interface ApproveOptions {
  /** Show `approval` to the user; resolve true only if they confirm the new device shows the same comparison code. */
  readonly confirm?: (approval: LinkApproval) => boolean | Promise<boolean>;
  /** Or (non-interactive): the comparison code the new device shows (spaces ignored); it must match. */
  readonly sas?: string;
}

export interface SafetyNumberInfo {
  readonly user: string;
  /** 60 digits for the pinned master key. */
  readonly safetyNumber: string;
  /** The same, in 12 groups of 5. */
  readonly formatted: string;
  readonly verified: boolean;
  /** The relay now serves another master key; its number is `newSafetyNumber`. */
  readonly keyChanged: boolean;
  readonly newSafetyNumber?: string;
}

export interface DeviceInfo {
  readonly deviceId: number;
  readonly current: boolean;
  /** Only known for this device (names are local, not part of the signed list). */
  readonly name?: string;
}

export interface ReceiveOptions {
  onMessage: (message: ReceivedMessage) => void | Promise<void>;
  onFailure?: (failure: ReceiveFailure) => void;
  onError?: (error: Error) => void;
}

const LINK_POLL_SECONDS = 25;
/** `listen`: idle time after which the inbox removal of handed messages is written on its own (#settleInbox). */
const SETTLE_INBOX_MS = 100;

/** A parked message (receive.ts): kept because its sender's key or device could not be trusted yet. */
export interface ParkedInfo {
  readonly serverId: string;
  readonly from: string;
  readonly fromDevice: number;
  readonly sentAt: number;
  /** ERR_KEY_CHANGED or ERR_UNTRUSTED_DEVICE. */
  readonly reason: string;
  readonly message: string;
  readonly parkedAt: number;
}

/** Tokens in the profile, remembered in memory once read or written (RelayApi renews expired ones). */
function profileTokens(profile: Profile): TokenCache {
  const memory = new Map<string, Token>();
  return {
    get: async (server) => {
      const known = memory.get(server);
      if (known) return known;
      const stored = (await profile.read('tokens')).tokens.get(server);
      if (stored) memory.set(server, stored);
      return stored;
    },
    set: async (server, token) => {
      if (token) memory.set(server, token);
      else memory.delete(server);
      // Outside the profile lock on purpose (called inside transactions): a lost update only
      // costs a login. A copy: what `read` returns is shared with the profile's cache.
      const tokens = new Map((await profile.read('tokens').catch(() => ({ tokens: new Map() }))).tokens);
      if (token) tokens.set(server, token);
      else tokens.delete(server);
      await profile.write('tokens', { tokens });
    },
  };
}

function credentials(p: Primitives, a: AccountRecord): DeviceCredentials {
  return {
    user: a.user,
    deviceId: a.deviceId,
    signChallenge: (c) => signAuthChallenge(p, a.signingSeed, c, a.user, a.deviceId),
    signRequest: (method, path, body, timestamp) =>
      signatureHeader(p, { user: a.user, deviceId: a.deviceId, signingSeed: a.signingSeed }, method, path, body, timestamp),
  };
}

/** The comparison code of a parsed link code (PROTOCOL.md §12.1). */
function linkSas(p: Primitives, channelId: string, publicKey: Uint8Array): Promise<string> {
  return provisioningSas(p, fromBase64url(channelId), publicKey);
}

const transport = (env: ClientEnvironment) => ({
  allowInsecureHttp: env.allowInsecureHttp ?? false,
  ...(env.onWarning ? { onWarning: env.onWarning } : {}),
});

function checkOneTimePreKeys(n: number | undefined): number {
  if (n === undefined) return ONE_TIME_PREKEY_TARGET;
  if (Number.isInteger(n) && n >= 0 && n <= ONE_TIME_PREKEY_TARGET) return n;
  throw new InvalidArgumentError(`oneTimePreKeys must be a whole number from 0 to ${ONE_TIME_PREKEY_TARGET}`);
}

function checkUser(user: string): void {
  if (isValidUserName(user)) return;
  // In words, with the likely intended name (review ux-2026-12 F14).
  const lower = typeof user === 'string' ? user.toLowerCase().trim() : '';
  const hint = lower !== user && isValidUserName(lower) ? `; did you mean ${lower}?` : '';
  throw new InvalidArgumentError(
    `not a user name: ${JSON.stringify(user)} (1 to 64 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit${hint})`,
  );
}

export class BlindrelayClient {
  readonly #env: ClientEnvironment;
  readonly #ctx: Context;
  readonly #pumpLock = new Mutex();
  /**
   * Relay ids of inbox messages handed to `onMessage` whose removal from the stored inbox is not
   * written yet: it rides with the next batch's transaction (processEnvelopes `handed`), or
   * #settleInbox writes it (at the end of `receive`, when `listen` ends or has been idle for
   * SETTLE_INBOX_MS). Until then they stay in the stored inbox, so a crash hands them over again
   * (at least once, as before: docs/DECISIONS.md, "The inbox removal rides with the next batch").
   */
  readonly #handed = new Set<string>();
  #settleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Inbox writes of this client (#process, #settleInbox, #retryParked): a batch's inbox copy is current while this has not moved. */
  #inboxWrites = 0;
  /** One prekey top-up at a time (replenishPreKeys). */
  readonly #replenishLock = new Mutex();
  /** When prekey rotation is next due (ctx.now() ms; 0: check the profile). In memory. */
  #rotationDueAt = 0;
  /** When our own device list is next due for re-signing (own-list.ts; 0: check). In memory. */
  #ownListDueAt = 0;
  /** The profile was migrated to protocol 2 when opened: its one-time ML-KEM prekeys must be uploaded again. */
  #topUpAfterMigration = false;
  /** The listening WebSocket, lent for sends (docs/API.md §12), and the batcher that uses it. */
  readonly #channel = new SendChannel();
  readonly #coalescer: SendCoalescer;
  /** The unauthenticated socket for batched sealed sends (sealed-channel.ts), opened when one happens. */
  readonly #sealed: SealedChannel;

  private constructor(env: ClientEnvironment, profile: Profile, account: AccountRecord) {
    this.#env = env;
    const api = new RelayApi({
      servers: account.servers,
      credentials: credentials(env.primitives, account),
      tokens: profileTokens(profile),
      ...(env.fetch ? { fetch: env.fetch } : {}),
      ...transport(env),
    });
    const maxAge = env.directoryMaxAgeMs ?? DIRECTORY_MAX_AGE_MS;
    if (!(maxAge >= 0)) throw new InvalidArgumentError('directoryMaxAgeMs must be a number of milliseconds, 0 or more');
    this.#ctx = {
      p: env.primitives,
      profile,
      api,
      account,
      now: env.now ?? Date.now,
      directory: new Map(),
      directoryMaxAgeMs: maxAge,
      ...(env.sealedSends === false ? { sealedSends: false } : {}),
      certificates: new VerifiedCertificates(),
    };
    const sealedSocket = env.sealedSocket ?? (typeof globalThis.WebSocket === 'function' ? browserSealedSocketFactory : undefined);
    this.#sealed = new SealedChannel(
      () => api.server,
      sealedSocket,
      (to, messages) => api.sendSealed(to, messages),
      this.#ctx.now,
    );
    this.#coalescer = new SendCoalescer(this.#ctx, this.#channel, this.#sealed);
  }

  // ---- lifecycle ---------------------------------------------------------------------------------

  /** Open an existing profile. Throws NoProfileError, PassphraseRequiredError, WrongPassphraseError... */
  static async open(env: ClientEnvironment): Promise<BlindrelayClient> {
    const profile = await Profile.open(env.storage, env.primitives, { passphrase: env.passphrase });
    let account = await profile.read('account');
    if (!account.filePrivate) {
      // A profile from before files existed: give the device its file key now (published by the first file operation).
      const file = await generateX25519(env.primitives);
      account = await profile.transact(async (tx) => {
        const a = await tx.get('account');
        if (a.filePrivate) return a;
        const next = { ...a, filePrivate: file.privateKey, filePublic: file.publicKey };
        tx.set('account', next);
        return next;
      });
    }
    // A profile from before protocol 2 (identity-bound sessions): profile-migration.ts.
    const migration = await migrateProfile(env.primitives, profile, (env.now ?? Date.now)());
    const client = new BlindrelayClient(env, profile, migration.account);
    client.#topUpAfterMigration = migration.migrated;
    return client;
  }

  /**
   * Register a new user with its first device: master key, device keys and certificate, device
   * list version 1, and prekeys (signed X25519, 100 one-time X25519, 100 one-time ML-KEM-768, one
   * last-resort ML-KEM-768). Nothing is left behind if the relay refuses.
   */
  static async createAccount(env: ClientEnvironment, options: CreateAccountOptions): Promise<BlindrelayClient> {
    checkUser(options.user);
    const oneTime = checkOneTimePreKeys(options.oneTimePreKeys);
    const servers = parseServerList(options.servers, transport(env));
    const p = env.primitives;
    const now = (env.now ?? Date.now)();
    if (await env.storage.exists())
      throw new ProfileExistsError(
        `a profile already exists at ${env.storage.location} (choose another with --profile NAME, or delete that directory to start over)`,
      );
    const master = await generateMasterKey(p);
    const device = await generateDeviceKeys(p);
    const certificate = await issueDeviceCertificate(p, options.user, master, device);
    const prekeys = await initialPreKeys(p, options.user, device, now, oneTime);
    const account = accountRecord(options, servers, master, device, certificate, now);
    const list = await signOwnList({ p, now: () => now }, account, null, [deviceEntryOf(device)]);
    const contacts: ContactsRecord = { contacts: new Map([[options.user, ownContact(master.publicKey, list, now)]]) };
    return BlindrelayClient.#provision(env, account, prekeys.record, contacts, async (api) => {
      try {
        const r = await api.createAccount({ user: options.user, masterKey: master.publicKey, deviceList: list, prekeys: prekeys.upload });
        if (r.deviceId !== device.deviceId) throw new RelayError('ERR_RELAY', 201, 'bad_response', 'relay: registered a different device id');
      } catch (e) {
        throw e instanceof ConflictError ? new UserTakenError(options.user) : e;
      }
    });
  }

  /**
   * Link this (new) device to an existing user: show a code, wait for another device of the user
   * to approve it, then add this device to the user's device list (signed with the master seed
   * received in the sealed envelope) and publish its prekeys.
   */
  static async link(env: ClientEnvironment, options: LinkOptions): Promise<BlindrelayClient> {
    checkUser(options.user);
    const oneTime = checkOneTimePreKeys(options.oneTimePreKeys);
    const servers = parseServerList(options.servers, transport(env));
    const p = env.primitives;
    if (await env.storage.exists())
      throw new ProfileExistsError(
        `a profile already exists at ${env.storage.location} (choose another with --profile NAME, or delete that directory to start over)`,
      );
    const api = new RelayApi({ servers, ...(env.fetch ? { fetch: env.fetch } : {}), ...transport(env) });
    const ephemeral = await generateX25519(p);
    // Naming the user lets the relay refuse an unknown one at once (review ux-2026-12 F12).
    const channel = await api.createChannel(options.user);
    const deviceName = options.deviceName ?? 'new device';
    options.onCode(
      formatLinkCode(channel.channelId, ephemeral.publicKey, { user: options.user, deviceName }),
      await linkSas(p, channel.channelId, ephemeral.publicKey),
    );
    let sealed: Uint8Array | null = null;
    const deadline = Math.min(channel.expiresAt, Date.now() + 10 * 60_000);
    while (!sealed) {
      if (options.signal?.aborted || Date.now() >= deadline) throw new LinkTimeoutError();
      const wait = Math.min(LINK_POLL_SECONDS, Math.ceil((deadline - Date.now()) / 1000));
      try {
        sealed = await api.waitChannel(channel.channelId, wait);
      } catch (e) {
        if (!(e instanceof UnreachableError)) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const payload = await openProvisioning(p, ephemeral, sealed);
    if (payload.user !== options.user) throw new InvalidArgumentError(`the approving device belongs to ${payload.user}, not ${options.user}`);
    const user = payload.user;
    const masterKey = payload.masterKey;
    const state = decodeLinkState(payload.state);
    const now = (env.now ?? Date.now)();
    // Custody (PROTOCOL.md §16): the primary made our keys, certified them and signed the list
    // adding us; we check all of it against the master key before keeping anything.
    const device = await linkedDeviceKeys(p, state.device);
    const list = await verifyDeviceList(p, state.deviceList, { user, masterKey }, { now: null, migration: true });
    const entry = list.devices.find((d) => d.deviceId === device.deviceId);
    const cert = await verifyDeviceCertificate(p, state.device.certificate, { user, masterKey });
    if (
      !entry?.proof ||
      !equal(entry.signingKey, device.signing.publicKey) ||
      !equal(entry.identityKey, device.identity.publicKey) ||
      !entry.fileKey ||
      !equal(entry.fileKey, device.file.publicKey) ||
      cert.deviceId !== device.deviceId ||
      !equal(cert.signingKey, device.signing.publicKey) ||
      !equal(cert.identityKey, device.identity.publicKey)
    ) {
      throw new InvalidArgumentError('the approving device sent a device list or certificate that does not match the keys it sent: nothing was kept');
    }
    const prekeys = await initialPreKeys(p, user, device, now, oneTime);
    const names = (state.deviceNames ?? []).filter((d) => d.deviceId !== device.deviceId && list.devices.some((e) => e.deviceId === d.deviceId));
    const account = {
      ...accountRecord(options, servers, { publicKey: masterKey }, device, state.device.certificate, now),
      ...(names.length ? { deviceNames: names } : {}),
    };
    const contacts: ContactsRecord = { contacts: new Map(state.contacts) };
    contacts.contacts.delete(user);
    contacts.contacts.set(user, ownContact(masterKey, list.encoded, now));
    const collections = state.collections ?? new Map();
    return BlindrelayClient.#provision(
      env,
      account,
      prekeys.record,
      contacts,
      (relay) => relay.putDeviceList(user, list.encoded, { deviceId: device.deviceId, prekeys: prekeys.upload }),
      async (profile) => {
        if (collections.size > 0) await profile.write('collections', { collections });
      },
    );
  }

  /** Write a new profile, register it with `register`, and only then mark the profile complete. */
  static async #provision(
    env: ClientEnvironment,
    account: AccountRecord,
    prekeys: Awaited<ReturnType<typeof initialPreKeys>>['record'],
    contacts: ContactsRecord,
    register: (api: RelayApi) => Promise<void>,
    more?: (profile: Profile) => Promise<void>,
  ): Promise<BlindrelayClient> {
    const { profile, commitNew } = await Profile.create(env.storage, env.primitives, {
      passphrase: env.passphrase,
      ...(env.kdf ? { kdf: env.kdf } : {}),
    });
    try {
      await profile.write('account', account);
      await profile.write('prekeys', prekeys);
      await profile.write('contacts', contacts);
      await more?.(profile);
      const client = new BlindrelayClient(env, profile, account);
      await register(client.#ctx.api);
      await commitNew();
      return client;
    } catch (e) {
      profile.close();
      await env.storage.destroy();
      throw e;
    }
  }

  /**
   * Restore the account from its encrypted backup onto this (new) device, with nothing else
   * (docs/RECOVERY.md): the recovery code (a typo is refused locally, by its checksum) or the
   * passphrase (an OPAQUE login the relay counts) releases the backup; its master key signs a new
   * device list with this device added (and, with `revokeOthers`, every other device removed),
   * exactly as linking does; contacts and their verification come back, file keys are kept for the
   * files the new device has no stanza in, and the user's own files are re-wrapped for it.
   * Messages are not restored. Nothing is left behind if anything fails before registration.
   */
  static async restore(env: ClientEnvironment, options: RestoreOptions): Promise<RestoreResult> {
    checkUser(options.user);
    const oneTime = checkOneTimePreKeys(options.oneTimePreKeys);
    const servers = parseServerList(options.servers, transport(env));
    const p = env.primitives;
    if (await env.storage.exists())
      throw new ProfileExistsError(
        `a profile already exists at ${env.storage.location} (choose another with --profile NAME, or delete that directory to start over)`,
      );
    const api = new RelayApi({ servers, ...(env.fetch ? { fetch: env.fetch } : {}), ...transport(env) });
    const opened: OpenedBackup = await openRemoteBackup(p, api, options.user, options);
    const { contents, currentList: current, master } = opened;
    let device = await generateDeviceKeys(p);
    while (current.devices.some((d) => d.deviceId === device.deviceId)) device = await generateDeviceKeys(p);
    const certificate = await issueDeviceCertificate(p, options.user, master, device);
    const now = (env.now ?? Date.now)();
    const prekeys = await initialPreKeys(p, options.user, device, now, oneTime);
    const account = accountRecord(options, servers, master, device, certificate, now);
    const keep = options.revokeOthers ? [] : current.devices;
    const list = await signOwnList({ p, now: () => now }, account, current, [...keep, deviceEntryOf(device)]);
    const contacts: ContactsRecord = {
      contacts: new Map(
        contents.contacts
          .filter((c) => c.user !== options.user)
          .map((c) => [c.user, { masterKey: c.masterKey, verified: c.verified, pinnedAt: c.pinnedAt, deviceList: null, keyChange: null }] as const),
      ),
    };
    contacts.contacts.set(options.user, ownContact(master.publicKey, list, now));
    const client = await BlindrelayClient.#provision(
      env,
      account,
      prekeys.record,
      contacts,
      (relay) => relay.putDeviceList(options.user, list, { deviceId: device.deviceId, prekeys: prekeys.upload }),
      (profile) =>
        profile.write('backup', {
          key: opened.backupKey,
          kind: opened.kind,
          generation: opened.generation,
          digest: null,
          checkedAt: 0,
          recovered: new Map(contents.files.map((f) => [f.id, { version: f.version, key: f.key }] as const)),
        }),
    );
    const rewrapped: string[] = [];
    const rewrapFailed: { id: string; reason: string }[] = [];
    try {
      if (options.revokeOthers) {
        // The revoked devices signed the current versions (custody: file signatures are checked
        // against the current list, PROTOCOL.md §16.2) and could open them: re-key every own file as
        // a revocation does (§16.3), trusting the signers the recovered master key listed until now.
        const former = current.devices.map((d) => d.signingKey);
        const r = await rekeyOwnFiles(client.#ctx, former);
        rewrapped.push(...r.rekeyed);
        rewrapFailed.push(...r.rekeyFailed.map((f) => ({ id: f.id, reason: f.message })));
      } else {
        for (const f of await client.#ctx.api.listFiles()) {
          if (f.owner !== options.user || !f.complete || f.pending) continue;
          try {
            await files.rewrapFile(client.#ctx, f.id);
            rewrapped.push(f.id);
          } catch (e) {
            rewrapFailed.push({ id: f.id, reason: (e as Error).message });
          }
        }
      }
      await syncBackup(client.#ctx, { force: true });
    } catch (e) {
      client.#warn(`restored, but the files could not be listed or the backup not refreshed yet: ${(e as Error).message}`);
    }
    return {
      client,
      revoked: current.devices.filter((d) => !keep.includes(d)).map((d) => d.deviceId),
      fileKeys: contents.files.length,
      rewrapped,
      rewrapFailed,
      contacts: contents.contacts.length,
    };
  }

  close(): void {
    this.#sealed.close();
    this.#ctx.profile.close();
  }

  /**
   * Delete this account everywhere (primary device only: NotPrimaryError on a companion),
   * then erase this profile; the client is closed. docs/API.md §1a, account-deletion.ts.
   */
  deleteAccount(): Promise<AccountDeletionResult> {
    return deleteAccount(this.#ctx, this.#env.storage);
  }

  #warn(message: string): void {
    (this.#env.onWarning ?? ((m: string) => console.warn(m)))(message);
  }

  // ---- key backup (backup/) ----------------------------------------------------------------------

  /**
   * Make a new encrypted key backup (docs/RECOVERY.md): a new recovery code (returned once), or
   * `passphrase` (OPAQUE, Argon2id). Replaces the earlier backup and its code or passphrase.
   * This device then keeps the backup up to date as keys change.
   */
  createBackup(options: CreateBackupOptions = {}): Promise<CreateBackupResult> {
    return createBackup(this.#ctx, options);
  }
  /** Encrypt the backup again now if what it holds changed (`force`: in any case). */
  syncBackup(options: { force?: boolean } = {}): Promise<SyncResult> {
    return syncBackup(this.#ctx, options);
  }
  backupInfo(): Promise<BackupInfo> {
    return backupInfo(this.#ctx);
  }

  /** After `operation` (one that changes what the backup holds), keep the backup up to date; a failure is a warning. */
  async #keysChanged<T>(operation: Promise<T>, maxAgeMs = 0): Promise<T> {
    const result = await operation;
    await maybeSyncBackup(this.#ctx, maxAgeMs).catch((e) => this.#warn(`warning: the encrypted backup could not be updated: ${(e as Error).message}`));
    return result;
  }

  // ---- identity ----------------------------------------------------------------------------------

  get user(): string {
    return this.#ctx.account.user;
  }
  get deviceId(): number {
    return this.#ctx.account.deviceId;
  }
  get servers(): readonly string[] {
    return this.#ctx.account.servers;
  }
  /** True if the profile is encrypted at rest with a passphrase. */
  get encrypted(): boolean {
    return this.#ctx.profile.encrypted;
  }
  get location(): string {
    return this.#ctx.profile.storage.location;
  }

  /**
   * A file the application keeps in this device's profile (the web app's chat history): sealed
   * like the SDK's own records, under the passphrase when the profile has one, and erased with the
   * profile. Never sent anywhere. `name`: 1 to 36 of a-z, 0-9 and -. Null if never written.
   */
  readAppFile(name: string): Promise<Uint8Array | null> {
    return this.#ctx.profile.readAppFile(name);
  }

  /** Replace an application file (see readAppFile). */
  writeAppFile(name: string, data: Uint8Array): Promise<void> {
    return this.#ctx.profile.writeAppFile(name, data);
  }

  /** True on the user's primary device (it holds the master key: custody.ts). */
  get primary(): boolean {
    return isPrimary(this.#ctx.account);
  }

  whoami(): { user: string; deviceId: number; deviceName: string; server: string; servers: readonly string[]; encrypted: boolean; primary: boolean } {
    const a = this.#ctx.account;
    return {
      user: a.user,
      deviceId: a.deviceId,
      deviceName: a.deviceName,
      server: a.servers[0] as string,
      servers: a.servers,
      encrypted: this.encrypted,
      primary: this.primary,
    };
  }

  /**
   * Migration of a device linked before custody (custody.ts): erase the master seed from this
   * profile once our verified device list lists this device with its proof. The client is closed
   * afterwards (open the profile again). Returns false on a companion (nothing to do).
   */
  async demoteToCompanion(): Promise<boolean> {
    const r = await demoteToCompanion(this.#ctx);
    if (r.changed) this.close();
    return r.changed;
  }

  // ---- encrypted records and search (records/collections.ts, docs/SEARCH.md) ---------------------

  /** Messages sent or received (by any device of ours with history search on) whose text has every word. */
  searchHistory(words: string): Promise<history.HistoryMessage[]> {
    return history.searchHistory(this.#ctx, words);
  }

  // ---- group conversations on MLS (groups/groups.ts, docs/PROTOCOL.md §22) ------------------------

  /** Keeps this device's MLS KeyPackages on the relay topped up (others add us to groups with them). */
  publishGroupKeyPackages(): Promise<number> {
    return groups.publishGroupKeyPackages(this.#ctx);
  }
  /** A new group (its name is seen by members only) with our other devices and `members`' devices; returns its id. */
  createGroup(name: string, members: readonly string[] = []): Promise<string> {
    return groups.createGroup(this.#ctx, name, members);
  }
  /** Adds every device of `user`; group files this device put are shared with them (the result says which). */
  addGroupMember(id: string, user: string): Promise<GroupFilesResult> {
    return groups.addGroupMember(this.#ctx, id, user);
  }
  /**
   * Removes every device of `user`: they cannot read anything sent afterwards. Group files this
   * device put are re-keyed without them (the result says which).
   */
  removeGroupMember(id: string, user: string): Promise<GroupFilesResult> {
    return groups.removeGroupMember(this.#ctx, id, user);
  }
  leaveGroup(id: string): Promise<void> {
    return groups.leaveGroup(this.#ctx, id);
  }
  sendGroupMessage(id: string, text: string): Promise<void> {
    return groups.sendGroupMessage(this.#ctx, id, text);
  }
  /** Applies the group inbox and returns the group messages decrypted since the last call. */
  receiveGroupMessages(): Promise<groups.GroupMessage[]> {
    return groups.receiveGroupMessages(this.#ctx);
  }
  listGroups(): Promise<groups.GroupSummary[]> {
    return groups.listGroups(this.#ctx);
  }
  listGroupMembers(id: string): Promise<groups.GroupMemberDevice[]> {
    return groups.listGroupMembers(this.#ctx, id);
  }
  /**
   * Encrypt and store a file for the group's current member users, all their current devices
   * (docs/PROTOCOL.md §22.7); this device then keeps it following the group: re-keyed when a
   * member or one of their devices goes, shared with members added. ERR_GROUP_NOT_MEMBER if this
   * device is not a member.
   */
  putGroupFile(id: string, source: FileSource, options: Omit<PutOptions, 'to'> = {}): Promise<PutResult> {
    return this.#keysChanged(groups.putFileForGroup(this.#ctx, id, source, options));
  }
  /**
   * Apply the group inbox, make our groups follow our device list (linked devices added, revoked
   * ones removed) and the group files this device put follow their groups; `receiveGroupMessages`
   * does the same.
   */
  followGroups(): Promise<GroupFilesResult> {
    return groups.followGroups(this.#ctx);
  }

  /** A new collection of encrypted records with its blind indexes; its key goes to our other devices and `members`. */
  createCollection(name: string, options?: records.CreateCollectionOptions): Promise<records.CollectionSummary> {
    return records.createCollection(this.#ctx, name, options);
  }
  /** Collections this device holds keys of and may use. */
  listCollections(): Promise<records.CollectionSummary[]> {
    return records.listCollections(this.#ctx);
  }
  describeCollection(collection: string): Promise<records.CollectionSummary> {
    return records.describeCollection(this.#ctx, collection);
  }
  /** Seal and store a record; returns its id. */
  putRecord(collection: string, record: JsonRecord, options?: { id?: string }): Promise<string> {
    return records.putRecord(this.#ctx, collection, record, options);
  }
  getRecord(collection: string, id: string): Promise<JsonRecord> {
    return records.getRecord(this.#ctx, collection, id);
  }
  /** Records matching every condition (exact, compound and word indexes); false positives are dropped here. */
  findRecords(collection: string, conditions: readonly records.Condition[]): Promise<records.FindResult> {
    return records.findRecords(this.#ctx, collection, conditions);
  }
  removeRecord(collection: string, id: string): Promise<void> {
    return records.removeRecord(this.#ctx, collection, id);
  }
  shareCollection(collection: string, user: string): Promise<records.CollectionSummary> {
    return records.shareCollection(this.#ctx, collection, user);
  }
  /** Remove a member and re-key the collection for later writes. */
  unshareCollection(collection: string, user: string): Promise<records.CollectionSummary> {
    return records.unshareCollection(this.#ctx, collection, user);
  }
  addIndexes(collection: string, indexes: readonly records.IndexDeclaration[]): Promise<records.CollectionSummary> {
    return records.addIndexes(this.#ctx, collection, indexes);
  }
  /** Send every collection key this device holds to our other devices (e.g. one linked since); returns the number of collections. */
  resendCollectionKeys(): Promise<number> {
    return records.resendCollectionKeys(this.#ctx);
  }
  /** Re-plan token widths (default: for twice the records held) and re-index; see `CollectionSummary.outgrown`. */
  replanCollection(collection: string, plannedRecords?: number): Promise<records.CollectionSummary> {
    return records.replanCollection(this.#ctx, collection, plannedRecords);
  }

  // ---- files (files.ts) ---------------------------------------------------------------------------

  /** Encrypt and store a file for our devices and `options.to`'s; resumes an interrupted upload of the same source. */
  putFile(source: FileSource, options: PutOptions = {}): Promise<PutResult> {
    return this.#keysChanged(files.putFile(this.#ctx, source, options));
  }
  /**
   * Download and decrypt a file into the sink `open` returns once the metadata is known. It fails
   * after the last write (the caller discards what it wrote) unless the payload is the one its owner
   * sealed; a file stored before 2026-12-03 (unsigned) only with `options.allowUnsigned`.
   */
  getFile(
    id: string,
    open: (meta: FileMeta, file: FileSummary) => Promise<FileSink>,
    onProgress?: ProgressListener,
    options: DownloadOptions = {},
  ): Promise<FileSummary> {
    return files.getFile(this.#ctx, id, open, onProgress, options);
  }
  listFiles(): Promise<FileSummary[]> {
    return files.listFiles(this.#ctx);
  }
  statFile(id: string): Promise<FileSummary> {
    return files.statFile(this.#ctx, id);
  }
  shareFile(id: string, user: string, options: { acceptNewKey?: boolean } = {}) {
    return this.#keysChanged(files.shareFile(this.#ctx, id, user, options));
  }
  rewrapFile(id: string, options: { acceptNewKey?: boolean } = {}) {
    return files.rewrapFile(this.#ctx, id, options);
  }
  revokeFile(id: string, user: string, options: { onProgress?: ProgressListener; acceptNewKey?: boolean; signal?: AbortSignal } = {}) {
    return this.#keysChanged(files.revokeFile(this.#ctx, id, user, options));
  }
  /** Re-encrypt a file under a new key for its current readers (signs a file stored before 2026-12-03). */
  rekeyFile(id: string, options: { onProgress?: ProgressListener; acceptNewKey?: boolean; signal?: AbortSignal } = {}) {
    return this.#keysChanged(files.rekeyFile(this.#ctx, id, options));
  }
  removeFile(id: string): Promise<void> {
    return files.removeFile(this.#ctx, id);
  }
  exportFile(id: string, open: (meta: FileMeta) => Promise<FileSink>, onProgress?: ProgressListener, options: DownloadOptions = {}): Promise<ExportResult> {
    return files.exportFile(this.#ctx, id, open, onProgress, options);
  }
  pendingUploads(): Promise<PendingUpload[]> {
    return files.pendingUploads(this.#ctx);
  }
  /**
   * Re-key the files we own that are shared with users whose device list lost a device since
   * (custody.ts `rekeyForRemovedReaderDevices`, PROTOCOL.md §16.3): the removed device's stanza is
   * dropped. Which readers lost a device is noticed when their list is fetched (send, receive,
   * file operations).
   */
  rekeyForRemovedReaderDevices(onProgress?: ProgressListener) {
    return rekeyForRemovedReaderDevices(this.#ctx, onProgress);
  }
  /** Finish this device's unfinished revocations (restarting under a fresh key those that cannot be resumed). */
  resumeRevocations(onProgress?: ProgressListener): Promise<string[]> {
    return files.resumeRevocations(this.#ctx, onProgress);
  }

  // ---- messages ----------------------------------------------------------------------------------

  /**
   * A new delivery token for this device (sealed sender, docs/PROTOCOL.md §20.1). `revoke`: every
   * previous token stops working now; otherwise they stay valid for the relay's grace period.
   */
  rotateDeliveryToken(options: { revoke?: boolean } = {}): Promise<void> {
    return delivery.rotateDeliveryToken(this.#ctx, options);
  }
  /** Block `user`: revoke our delivery token (they never get the new one) and drop their messages. */
  blockUser(user: string): Promise<void> {
    checkUser(user);
    return delivery.blockUser(this.#ctx, user);
  }
  unblockUser(user: string): Promise<void> {
    checkUser(user);
    return delivery.unblockUser(this.#ctx, user);
  }

  /**
   * Send `text` to every device of `to`, and a sync copy to our other devices. While `listen` is
   * connected to the home relay, concurrent sends are batched: one profile write and one
   * WebSocket frame for many (send-coalescer.ts), sealed ones on a separate unauthenticated socket
   * (sealed-channel.ts, docs/API.md §11a); otherwise one HTTP request each (sealed: an
   * unauthenticated POST per recipient, docs/PROTOCOL.md §20).
   */
  async send(to: string, text: string, options: SendOptions = {}): Promise<SendResult> {
    checkUser(to);
    // Best effort: peers refuse our list once stale (own-list.ts); a failure is retried next time.
    await this.#maintainOwnList().catch(() => undefined);
    const batched = this.#channel.server !== undefined && this.#channel.server === this.#ctx.api.server;
    const sending = batched ? this.#coalescer.send(to, text, options) : sendText(this.#ctx, to, text, options);
    const result = await sending.catch(async (e) => {
      throw await explainSendRefusal(this.#ctx, e);
    });
    if (this.#env.historySearch) {
      await history
        .indexHistory(this.#ctx, [{ id: result.id, from: this.user, to, text, sentAt: result.sentAt }])
        .catch((e) => this.#warn(`message history: this message was not indexed (${(e as Error).message})`));
    }
    // Best effort: a failure is retried at the next send or receive.
    await this.rotatePreKeys().catch(() => undefined);
    return result;
  }

  /**
   * Fetch everything queued on the relay, decrypt, persist, ack, and hand each new message to
   * `onMessage` (messages left in the inbox by an interrupted run come first).
   */
  async receive(options: ReceiveOptions): Promise<{ received: number; failed: number }> {
    try {
      return await this.#receive(options);
    } finally {
      await this.#settleInbox().catch((e) => options.onError?.(e as Error));
    }
  }

  async #receive(options: ReceiveOptions): Promise<{ received: number; failed: number }> {
    // Before fetching: a first message built on a replaced prekey still decrypts (grace period).
    await this.rotatePreKeys().catch((e) => options.onError?.(e as Error));
    await this.#maintainOwnList().catch((e) => options.onError?.(e as Error));
    let received = await this.#deliver(options.onMessage);
    let failed = await this.#retryParked(options);
    received += await this.#deliver(options.onMessage);
    let usedPreKeys = false;
    for (;;) {
      const envelopes = await this.#ctx.api.fetchMessages(100);
      if (envelopes.length === 0) break;
      const r = await this.#process(envelopes);
      if (r.ack.length > 0) await this.#ctx.api.ack(r.ack);
      for (const f of r.failures) options.onFailure?.(f);
      failed += r.failures.length;
      usedPreKeys ||= r.usedPreKeys;
      received += await this.#deliver(options.onMessage, r);
      if (r.deferred) throw r.deferred;
      if (envelopes.length < 100 || r.ack.length === 0) break;
    }
    if (usedPreKeys) await this.replenishPreKeys().catch((e) => options.onError?.(e as Error));
    // Files shared with us since the last check go into the encrypted backup (hourly at most).
    await maybeSyncBackup(this.#ctx, BACKUP_CHECK_INTERVAL_MS).catch((e) => options.onError?.(e as Error));
    return { received, failed };
  }

  /** Receive pushed messages over the WebSocket until `signal` aborts (see listen.ts). */
  async listen(options: ReceiveOptions & ListenOptions): Promise<void> {
    const socket = this.#env.socket;
    if (!socket) throw new InvalidArgumentError('listening needs a WebSocket factory in the client environment');
    await this.rotatePreKeys().catch((e) => options.onError?.(e as Error));
    await this.#maintainOwnList().catch((e) => options.onError?.(e as Error));
    await this.#retryParked(options);
    await this.#deliver(options.onMessage);
    await listen(
      {
        api: this.#ctx.api,
        socket,
        process: async (envelopes): Promise<BatchResult> => {
          await this.rotatePreKeys().catch((e) => options.onError?.(e as Error));
          await this.#maintainOwnList().catch((e) => options.onError?.(e as Error));
          const r = await this.#process(envelopes);
          await this.#deliver(options.onMessage, r);
          this.#scheduleSettle(options.onError);
          return r;
        },
        onPreKeysLow: async () => {
          await this.replenishPreKeys();
        },
        channel: this.#channel,
      },
      options,
    ).finally(async () => {
      await this.#settleInbox().catch((e) => options.onError?.(e as Error));
    });
  }

  /** processEnvelopes, removing from the inbox in the same transaction what the application already has. */
  async #process(envelopes: RelayEnvelope[]): Promise<BatchResult & { inboxWrite: number }> {
    const handed = new Set(this.#handed);
    const r = await processEnvelopes(this.#ctx, envelopes, { handed });
    for (const id of handed) this.#handed.delete(id);
    return { ...r, inboxWrite: ++this.#inboxWrites };
  }

  /** Write the inbox removal of what was handed over, unless a batch's transaction did already. */
  async #settleInbox(): Promise<void> {
    clearTimeout(this.#settleTimer);
    this.#settleTimer = undefined;
    if (this.#handed.size === 0) return;
    const handed = new Set(this.#handed);
    await this.#ctx.profile.transact(async (tx) => {
      const recent = await tx.get('recent');
      if (dropHanded(recent, handed)) tx.set('recent', recent);
    });
    this.#inboxWrites++;
    for (const id of handed) this.#handed.delete(id);
  }

  /** `listen`: settle the inbox once no batch came for SETTLE_INBOX_MS (a batch that comes first takes it along). */
  #scheduleSettle(onError: ((e: Error) => void) | undefined): void {
    if (this.#handed.size === 0 || this.#settleTimer !== undefined) return;
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = undefined;
      this.#settleInbox().catch((e) => onError?.(e as Error));
    }, SETTLE_INBOX_MS);
    (this.#settleTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Hand inbox messages to `onMessage`; each one that returned is marked handed (#handed), and its
   * removal from the stored inbox is written with the next batch or by #settleInbox. `batch`: the
   * batch just processed, whose copy of the inbox as it committed is used instead of reading the
   * record back, unless this client wrote the inbox again since (then it is read). A batch another
   * process committed meanwhile hands over its own messages.
   */
  #deliver(onMessage: ReceiveOptions['onMessage'], batch?: BatchResult & { inboxWrite: number }): Promise<number> {
    return this.#pumpLock.run(async () => {
      const committed = batch?.inbox && batch.inboxWrite === this.#inboxWrites ? batch.inbox : undefined;
      // A copy: the record is shared with the profile's cache.
      const inbox = (committed ?? (await this.#ctx.profile.read('recent')).inbox).filter((m) => !this.#handed.has(m.serverId));
      if (inbox.length === 0) return 0;
      let delivered = 0;
      if (this.#env.historySearch) {
        // Before the inbox lets go of them: indexed at least once (the record id makes it idempotent).
        await history
          .indexHistory(
            this.#ctx,
            inbox.map((m) => ({ id: m.id, from: m.from, to: m.to, text: m.text, sentAt: m.sentAt })),
          )
          .catch((e) => this.#warn(`message history: received messages were not indexed (${(e as Error).message})`));
      }
      for (const m of inbox) {
        await onMessage(m);
        this.#handed.add(m.serverId);
        delivered++;
      }
      return delivered;
    });
  }

  /**
   * Process again the parked messages (receive.ts) whose sender's contact changed since they were
   * parked (`user`: only theirs), e.g. after `verify` or an accepted key. Returns how many failed.
   */
  async #retryParked(options: Pick<ReceiveOptions, 'onFailure'>, user?: string): Promise<number> {
    const due = await this.#ctx.profile.transact(async (tx) => {
      const out = [];
      for (const m of (await tx.get('parked')).messages) {
        if (user !== undefined && m.from !== user) continue;
        if ((await contactState(tx, m.from)) !== m.contactState) out.push(m);
      }
      return out;
    });
    if (due.length === 0) return 0;
    const r = await processEnvelopes(
      this.#ctx,
      due.map((m) => ({ id: m.serverId, from: m.from, fromDevice: m.fromDevice, body: m.body, sentAt: m.sentAt })),
      { retry: true },
    );
    this.#inboxWrites++;
    for (const f of r.failures) options.onFailure?.(f);
    if (r.usedPreKeys) await this.replenishPreKeys().catch(() => undefined);
    return r.failures.length;
  }

  /** Messages parked because their sender's key changed or their device is not in the verified list. */
  async parked(): Promise<ParkedInfo[]> {
    const record = await this.#ctx.profile.read('parked');
    return record.messages.map((m) => ({
      serverId: m.serverId,
      from: m.from,
      fromDevice: m.fromDevice,
      sentAt: m.sentAt,
      reason: m.reason,
      message: m.message,
      parkedAt: m.parkedAt,
    }));
  }

  /**
   * Keep our own device list fresh and migrated (own-list.ts: re-signed once older than
   * DEVICE_LIST_REFRESH_MS, or in format 3 with this device's proof if it is not yet); after a
   * profile migration, also upload new one-time ML-KEM prekeys once. Cheap when nothing is due.
   */
  async #maintainOwnList(): Promise<void> {
    const ctx = this.#ctx;
    if (this.#topUpAfterMigration) {
      await this.rotatePreKeys();
      await this.replenishPreKeys();
      this.#topUpAfterMigration = false;
    }
    if (ctx.now() < this.#ownListDueAt) return;
    this.#ownListDueAt = (await refreshOwnList(ctx)).dueAt;
  }

  /**
   * Rotate the signed prekey and the last-resort ML-KEM prekey when older than 7 days (uploaded to
   * the relay), and delete replaced ones 14 days after their replacement, with the base-key replay
   * cache entries accepted with them (prekeys.ts). Called by send, receive and listen; cheap when
   * nothing is due (the due time is remembered in memory). Returns true if keys were uploaded.
   */
  async rotatePreKeys(): Promise<boolean> {
    const ctx = this.#ctx;
    if (ctx.now() < this.#rotationDueAt) return false;
    const rotation = await ctx.profile.transact(async (tx) => {
      const record = await tx.get('prekeys');
      const r = await rotatePreKeys(ctx.p, ctx.account.user, deviceKeysOf(ctx.account), record, ctx.now());
      if (r.changed) tx.set('prekeys', record);
      const basekeys = await tx.get('basekeys');
      if (pruneBaseKeys(basekeys, record)) tx.set('basekeys', basekeys);
      if (!r.upload) this.#rotationDueAt = nextRotationAt(record);
      return r;
    });
    if (!rotation.upload) return false;
    const upload = rotation.upload;
    // The new keys are on disk (pending) before the relay hands them out.
    await ctx.api.uploadPreKeys(upload);
    await ctx.profile.transact(async (tx) => {
      const record = await tx.get('prekeys');
      publishedPreKeys(record, upload, ctx.now());
      tx.set('prekeys', record);
      this.#rotationDueAt = nextRotationAt(record);
    });
    return true;
  }

  /**
   * Top up one-time prekeys on the relay when either kind is below PREKEY_LOW_WATERMARK (or
   * `force`: below ONE_TIME_PREKEY_TARGET), back to ONE_TIME_PREKEY_TARGET. Returns how many keys
   * were uploaded. One top-up at a time in this client (a `prekeys-low` push and a scheduled top-up
   * do not both upload); the keys are generated outside the profile lock (only their ids are
   * reserved under it), so sends and receives never wait for the key generation.
   */
  replenishPreKeys(force = false): Promise<{ oneTime: number; pq: number }> {
    return this.#replenishLock.run(async () => {
      const ctx = this.#ctx;
      const status = await ctx.api.preKeyStatus();
      const low = (n: number) => force || n < PREKEY_LOW_WATERMARK;
      const oneTime = low(status.oneTimePreKeys) ? Math.max(0, ONE_TIME_PREKEY_TARGET - status.oneTimePreKeys) : 0;
      const pq = low(status.pqPreKeys) ? Math.max(0, ONE_TIME_PREKEY_TARGET - status.pqPreKeys) : 0;
      if (oneTime === 0 && pq === 0) return { oneTime, pq };
      const ids = await ctx.profile.transact(async (tx) => {
        const record = await tx.get('prekeys');
        const r = reservePreKeyIds(record, oneTime, pq);
        tx.set('prekeys', record);
        return r;
      });
      const batch = await generatePreKeyBatch(ctx.p, ctx.account.user, deviceKeysOf(ctx.account), ids);
      await ctx.profile.transact(async (tx) => {
        const record = await tx.get('prekeys');
        storePreKeyBatch(record, batch);
        tx.set('prekeys', record);
      });
      await ctx.api.uploadPreKeys(batch.upload);
      return { oneTime, pq };
    });
  }

  // ---- trust -------------------------------------------------------------------------------------

  /**
   * The safety number with `user` (identical on both sides; from the two master keys). Pins the
   * user's key on first contact. If the relay now serves another key, `keyChanged` is set and
   * `newSafetyNumber` is the number for the new key (compare that one before `verify`).
   */
  async safetyNumber(user: string): Promise<SafetyNumberInfo> {
    const c = await this.#lookup(user);
    return this.#numbers(user, c);
  }

  /**
   * Mark `user` verified if `number` (spaces ignored) matches their safety number. If a key
   * change is pending and the number matches the NEW key, the new key is pinned (and sessions with
   * the old one dropped). Otherwise throws SafetyNumberMismatchError and changes nothing.
   */
  async verify(user: string, number: string): Promise<SafetyNumberInfo> {
    const digits = number.replace(/\s+/g, '');
    if (!/^\d{60}$/.test(digits)) throw new InvalidArgumentError('a safety number is 60 digits');
    await this.#lookup(user);
    const c = await this.#ctx.profile.transact(async (tx) => {
      const contacts = await tx.get('contacts');
      const contact = contacts.contacts.get(user) as Contact;
      const me = { user: this.user, masterKey: this.#ctx.account.masterKey };
      let updated: Contact | undefined;
      if (contact.keyChange && safetyNumberMatches(await safetyNumber(this.#ctx.p, me, { user, masterKey: contact.keyChange.masterKey }), digits)) {
        updated = {
          masterKey: contact.keyChange.masterKey,
          verified: true,
          pinnedAt: this.#ctx.now(),
          deviceList: contact.keyChange.deviceList,
          keyChange: null,
        };
        await pruneSessions(tx, user, null);
      } else if (safetyNumberMatches(await safetyNumber(this.#ctx.p, me, { user, masterKey: contact.masterKey }), digits)) {
        updated = { ...contact, verified: true, keyChange: null };
      }
      if (!updated) throw new SafetyNumberMismatchError(user);
      contacts.contacts.set(user, updated);
      tx.set('contacts', contacts);
      return updated;
    });
    // Messages parked while the key was in doubt are read now; they reach the application through
    // the next `receive` / `listen` (they wait in the inbox).
    await this.#retryParked({}, user).catch(() => undefined);
    return this.#keysChanged(this.#numbers(user, c));
  }

  /** The contact for `user`, refreshed from the relay when it answers (pinning on first contact). */
  async #lookup(user: string): Promise<Contact> {
    checkUser(user);
    if (user === this.user) throw new InvalidArgumentError('a safety number is between you and another user');
    return this.#ctx.profile.transact(async (tx) => {
      try {
        return (await resolveUser(this.#ctx, tx, user, { mode: 'lookup' })).contact;
      } catch (e) {
        const known = (await tx.get('contacts')).contacts.get(user);
        if (known && e instanceof UnreachableError) return known;
        throw e;
      }
    });
  }

  async #numbers(user: string, c: Contact): Promise<SafetyNumberInfo> {
    const me = { user: this.user, masterKey: this.#ctx.account.masterKey };
    const sn = await safetyNumber(this.#ctx.p, me, { user, masterKey: c.masterKey });
    const info: SafetyNumberInfo = {
      user,
      safetyNumber: sn.digits,
      formatted: formatSafetyNumber(sn.digits),
      verified: c.verified,
      keyChanged: c.keyChange !== null,
    };
    if (!c.keyChange) return info;
    const next = await safetyNumber(this.#ctx.p, me, { user, masterKey: c.keyChange.masterKey });
    return { ...info, newSafetyNumber: next.digits };
  }

  // ---- devices -----------------------------------------------------------------------------------

  /** Our user's current devices, from the relay's list verified against our master key. */
  async devices(): Promise<{ version: number; devices: DeviceInfo[] }> {
    const list = await this.#ctx.profile.transact(async (tx) => (await resolveUser(this.#ctx, tx, this.user, { mode: 'lookup' })).list);
    return this.#deviceInfo(list);
  }

  /** Another device of ours, with its name when this device knows it (AccountRecord.deviceNames). */
  #otherDevice(deviceId: number): DeviceInfo {
    const name = this.#ctx.account.deviceNames?.find((d) => d.deviceId === deviceId)?.name;
    return name === undefined ? { deviceId, current: false } : { deviceId, current: false, name };
  }

  #deviceInfo(list: DeviceList): { version: number; devices: DeviceInfo[] } {
    return {
      version: list.version,
      devices: list.devices.map((d) =>
        d.deviceId === this.deviceId ? { deviceId: d.deviceId, current: true, name: this.#ctx.account.deviceName } : this.#otherDevice(d.deviceId),
      ),
    };
  }

  /**
   * Approve a new device that shows `code` (primary only: NotPrimaryError on a companion, before
   * anything else). The primary makes the new companion's device keys, certifies them, signs the
   * list that adds it (version + 1, with the companion's proof of possession) and seals these with
   * the master PUBLIC key and our contacts to it; the companion publishes the list (custody.ts).
   * The companion can then read our messages and files and send as us, but never gets the master
   * key. It happens only once the user confirmed the comparison code: `options.confirm` is shown
   * it and must resolve true, or `options.sas` (what the new device shows) must match. A code the
   * new device did not make (a phishing link: the attacker's code has another comparison code) is
   * refused with LinkNotConfirmedError and nothing is sent or changed (review L5).
   */
  async approve(code: string, options: ApproveOptions = {}): Promise<{ channelId: string; sas: string; deviceId: number }> {
    const master = masterSigner(this.#ctx.account, 'approving a new device');
    const { channelId, publicKey, request } = parseLinkCode(code);
    // A request to join another user is refused before anything (review ux-2026-12 F5).
    if (request && request.user !== this.user) throw new LinkWrongUserError(request.user, this.user);
    const sas = await linkSas(this.#ctx.p, channelId, publicKey);
    if (!options.confirm && options.sas === undefined) {
      throw new LinkNotConfirmedError(
        `approving lets the new device read and send as ${this.user}: give the comparison code the new device shows (sas), or confirm it (confirm)`,
      );
    }
    if (options.sas !== undefined && options.sas.replace(/\s+/g, '') !== sas) {
      throw new LinkNotConfirmedError(
        'the comparison code does not match this link code: the code was not made by the device you are looking at (someone else may have sent it to you). Nothing was sent',
      );
    }
    const approval: LinkApproval = request ? { user: this.user, sas, requestedUser: request.user, deviceName: request.deviceName } : { user: this.user, sas };
    if (options.confirm && !(await options.confirm(approval))) throw new LinkNotConfirmedError('not confirmed: nothing was sent');
    const p = this.#ctx.p;
    const { list, contacts, collections } = await this.#ctx.profile.transact(async (tx) => {
      const own = await resolveUser(this.#ctx, tx, this.user, { mode: 'lookup' });
      // Every collection key we hold goes with the new device's state (PROTOCOL.md §19.1).
      const collections = new Map((await tx.get('collections')).collections);
      // Until the new device has published its list, our sends fetch ours (directory.ts ownLinkPending).
      const record = await tx.get('contacts');
      record.contacts.set(this.user, { ...own.contact, linkApprovedAt: this.#ctx.now() });
      tx.set('contacts', record);
      return { list: own.list, contacts: new Map(record.contacts), collections };
    });
    contacts.delete(this.user);
    let device = await generateDeviceKeys(p);
    while (list.devices.some((d) => d.deviceId === device.deviceId)) device = await generateDeviceKeys(p);
    const file = device.file as NonNullable<typeof device.file>;
    const certificate = await issueDeviceCertificate(p, this.user, master, device);
    const entry = await proveDeviceEntry(p, this.user, master.publicKey, deviceEntryOf(device), device.signing.seed);
    const next = await signOwnList(this.#ctx, this.#ctx.account, list, [...list.devices, entry]);
    const known = (this.#ctx.account.deviceNames ?? []).filter((d) => list.devices.some((e) => e.deviceId === d.deviceId));
    const linkState = (withCollections: boolean) =>
      encodeLinkState({
        deviceList: next,
        contacts,
        deviceNames: [{ deviceId: this.deviceId, name: this.#ctx.account.deviceName }, ...known],
        ...(withCollections ? { collections } : {}),
        device: {
          deviceId: device.deviceId,
          signingSeed: device.signing.seed,
          identityPrivate: device.identity.privateKey,
          filePrivate: file.privateKey,
          certificate,
        },
      });
    // Collection keys ride along unless they would crowd the envelope (PROTOCOL.md §12: state ≤ 1 MiB);
    // then the new device gets them from `records sync-keys` on an older device.
    let state = linkState(true);
    if (state.length > LINK_STATE_COLLECTIONS_BUDGET) {
      wipe(state);
      state = linkState(false);
    }
    try {
      // Kept first: the companion's signing seed proves its entry under a new master key (master-key-rotation.ts).
      await this.#keepCompanionSeed(device.deviceId, device.signing.seed.slice(), request?.deviceName);
      const envelope = await sealProvisioning(p, publicKey, { user: this.user, masterKey: master.publicKey, state });
      await this.#ctx.api.putChannel(channelId, envelope).catch((e: unknown) => {
        // In words (review ux-2026-12 F13): 409 = the channel already got an envelope, 404 = expired or unknown.
        if (e instanceof ConflictError)
          throw new InvalidLinkCodeError('this link code was already used: on the new device, run device link again for a new code');
        if (e instanceof NotFoundError)
          throw new InvalidLinkCodeError('this link code expired (after 10 minutes) or was made on another relay: on the new device, run device link again');
        throw e;
      });
    } finally {
      // The companion's other keys leave this device only sealed to it.
      wipe(device.signing.seed, device.identity.privateKey, file.privateKey, state);
    }
    return { channelId, sas, deviceId: device.deviceId };
  }

  /** Primary: remember (`seed`) or forget (null) a companion's signing seed (AccountRecord.companionSeeds). */
  async #keepCompanionSeed(deviceId: number, seed: Uint8Array | null, name?: string): Promise<void> {
    const account = await this.#ctx.profile.transact(async (tx) => {
      const stored = await tx.get('account');
      const companionSeeds = (stored.companionSeeds ?? []).filter((c) => c.deviceId !== deviceId);
      if (seed) companionSeeds.push({ deviceId, signingSeed: seed });
      // The name the new device gave in its link code (shown by device list), forgotten on revoke.
      const deviceNames = (stored.deviceNames ?? []).filter((d) => d.deviceId !== deviceId);
      if (seed && name !== undefined) deviceNames.push({ deviceId, name });
      const next = { ...stored, companionSeeds, ...(deviceNames.length || stored.deviceNames ? { deviceNames } : {}) };
      tx.set('account', next);
      return next;
    });
    (this.#ctx as { account: AccountRecord }).account = account;
  }

  /**
   * Rotate the master key (primary only: NotPrimaryError): a new key, new certificates for the
   * devices it can carry over, a new device list and a rotation statement signed by both keys
   * (master-key-rotation.ts, PROTOCOL.md §16.4). Other users see a changed safety number: their
   * sends to us are refused until they verify it again.
   */
  rotateMasterKey(): Promise<RotationResult> {
    return rotateMasterKey(this.#ctx);
  }

  /**
   * After ProfileRolledBackError (this profile is an older copy than one that already sent):
   * drop every session, so the next send to anyone starts a new one from fresh prekeys, and take
   * over the relay's send mark (send-mark.ts). Messages, contacts and files stay. Does nothing
   * (`recovered: false`) unless a rollback is found.
   */
  recoverFromRollback(): Promise<RollbackRecovery> {
    return recoverFromRollback(this.#ctx);
  }

  /**
   * Remove another device of ours (primary only: NotPrimaryError on a companion): a new list
   * without it (version + 1), signed with the master key; the relay then drops the device's
   * tokens, queue and prekeys and refuses its logins. Peers' signatures checks stop accepting its
   * signatures on files (their reader lists and seals are signed by devices: PROTOCOL.md §16.2).
   * Then, unless `options.rekeyFiles` is false (files it signed last then stay unverifiable),
   * every file we own is re-encrypted under a new file key for the remaining devices and readers
   * (files rekey), so the revoked device cannot open what it could before from a copy of the
   * payload and versions written from now on (custody.ts, PROTOCOL.md §16.3). Files whose re-key
   * failed are listed in `rekeyFailed` (run `file rekey ID` again).
   */
  async revoke(
    deviceId: number,
    options: { rekeyFiles?: boolean; onProgress?: ProgressListener } = {},
  ): Promise<{ version: number; devices: DeviceInfo[]; rekeyed: string[]; rekeyFailed: { id: string; code: string; message: string }[] }> {
    requirePrimary(this.#ctx.account, 'revoking a device');
    if (!Number.isInteger(deviceId) || deviceId < 1 || deviceId > 0xffffffff) throw new InvalidArgumentError('not a device id');
    if (deviceId === this.deviceId)
      throw new InvalidArgumentError('this is the primary device: it cannot revoke itself (restore from the recovery backup on a new device)');
    const a = this.#ctx.account;
    let revokedKey: Uint8Array | undefined;
    const list = await this.#ctx.profile.transact(async (tx) => {
      const own = await resolveUser(this.#ctx, tx, this.user, { mode: 'lookup' });
      revokedKey = own.list.devices.find((d) => d.deviceId === deviceId)?.signingKey;
      if (!revokedKey) throw new InvalidArgumentError(`device ${deviceId} is not in the device list`);
      const signed = await signOwnList(
        this.#ctx,
        a,
        own.list,
        own.list.devices.filter((d) => d.deviceId !== deviceId),
      );
      await this.#ctx.api.putDeviceList(a.user, signed);
      const next = decodeDeviceList(signed);
      const contacts = await tx.get('contacts');
      contacts.contacts.set(a.user, { ...(contacts.contacts.get(a.user) as Contact), deviceList: signed, listCheckedAt: this.#ctx.now() });
      tx.set('contacts', contacts);
      await pruneSessions(tx, a.user, new Map(next.devices.map((d) => [d.deviceId, d.identityKey] as const)));
      this.#ctx.directory.set(a.user, { at: this.#ctx.now(), masterKey: a.masterKey, list: signed });
      return next;
    });
    await this.#keepCompanionSeed(deviceId, null);
    // Our groups follow the new list: one commit per group removes the revoked device's leaf
    // (docs/PROTOCOL.md §22.6). A failure here is retried by the next sync of any of our devices.
    await groups.followGroups(this.#ctx).catch((e) => this.#warn(`warning: the revoked device is not removed from every group yet: ${(e as Error).message}`));
    const r =
      options.rekeyFiles === false ? { rekeyed: [], rekeyFailed: [] } : await rekeyOwnFiles(this.#ctx, revokedKey ? [revokedKey] : [], options.onProgress);
    return { ...this.#deviceInfo(list), ...r };
  }
}

function accountRecord(
  options: CreateAccountOptions,
  servers: string[],
  master: { seed?: Uint8Array; publicKey: Uint8Array },
  device: DeviceKeys,
  certificate: Uint8Array,
  now: number,
): AccountRecord {
  return {
    user: options.user,
    deviceId: device.deviceId,
    deviceName: options.deviceName ?? `device-${device.deviceId}`,
    servers,
    // Custody: only the primary (the account's creator) keeps the seed.
    ...(master.seed ? { masterSeed: master.seed } : {}),
    masterKey: master.publicKey,
    signingSeed: device.signing.seed,
    signingKey: device.signing.publicKey,
    identityPrivate: device.identity.privateKey,
    identityPublic: device.identity.publicKey,
    ...(device.file ? { filePrivate: device.file.privateKey, filePublic: device.file.publicKey } : {}),
    certificate,
    createdAt: now,
  };
}

/** The companion's key pairs from the secrets the primary sealed to it (public keys derived here). */
async function linkedDeviceKeys(p: Primitives, d: LinkedDevice): Promise<DeviceKeys & { file: NonNullable<DeviceKeys['file']> }> {
  return {
    deviceId: d.deviceId,
    signing: { seed: d.signingSeed, publicKey: await p.ed25519PublicKey(d.signingSeed) },
    identity: { privateKey: d.identityPrivate, publicKey: await p.x25519PublicKey(d.identityPrivate) },
    file: { privateKey: d.filePrivate, publicKey: await p.x25519PublicKey(d.filePrivate) },
  };
}

function ownContact(masterKey: Uint8Array, list: Uint8Array, now: number): Contact {
  return { masterKey, verified: true, pinnedAt: now, deviceList: list, keyChange: null };
}
