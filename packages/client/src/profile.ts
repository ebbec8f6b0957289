/**
 * The profile store: everything one device keeps (packages/client/README.md, "Profile store").
 *
 *   profile.json   header (always plain JSON): format version, creation time, and, when a
 *                  passphrase is set, the Argon2id parameters, salt and key check value (vault.ts)
 *   account        user, device id and name, server URLs, master seed, device keys, certificate
 *   prekeys        private prekey records: signed X25519, one-time X25519, one-time + last-resort ML-KEM
 *   contacts       per user: pinned master key, verified flag, newest verified device list, a
 *                  pending key change
 *   state          sessions per peer device (serializeSession; current + a few previous), seen
 *                  relay ids, ciphertext digests and message ids (dedup), recently seen PQXDH base keys (replay defence), inbox
 *   tokens         relay bearer tokens per server URL (a cache; losing it costs one login)
 * Each record is a file `NAME.json` (plain) or `NAME.bin` (sealed). Bytes inside records are
 * `{"$b": base64url}`. Changes happen in transactions under the profile lock (`transact`), which
 * re-read the records from storage, so several processes can share a profile safely.
 */
import type { Primitives } from '@blindrelay/protocol';
import { fromUtf8, utf8 } from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from './base64url.js';
import { NoProfileError, PassphraseRequiredError, PassphraseUnexpectedError, ProfileCorruptError } from './errors.js';
import type { ProfileStorage } from './storage/types.js';
import { checkKdfParams, DEFAULT_KDF, deriveKey, type KdfParams, Vault } from './vault.js';

export const PROFILE_FORMAT = 'blindrelay-profile';
export const PROFILE_VERSION = 1;
const HEADER = 'profile.json';

// ---- records -----------------------------------------------------------------------------------

export interface AccountRecord {
  readonly user: string;
  readonly deviceId: number;
  readonly deviceName: string;
  readonly servers: readonly string[];
  readonly masterSeed: Uint8Array;
  readonly masterKey: Uint8Array;
  readonly signingSeed: Uint8Array;
  readonly signingKey: Uint8Array;
  readonly identityPrivate: Uint8Array;
  readonly identityPublic: Uint8Array;
  /** This device's certificate from the master key (sent in every PreKeyMessage). */
  readonly certificate: Uint8Array;
  readonly createdAt: number;
}

export interface StoredSignedPreKey {
  id: number;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  signature: Uint8Array;
  createdAt: number;
}
export interface StoredOneTimePreKey {
  id: number;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}
export interface StoredPqPreKey {
  id: number;
  lastResort: boolean;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  signature: Uint8Array;
}
export interface PreKeysRecord {
  signed: StoredSignedPreKey[];
  oneTime: StoredOneTimePreKey[];
  /** One-time and last-resort ML-KEM-768 prekeys (ids unique across both). */
  pq: StoredPqPreKey[];
  nextSignedId: number;
  nextOneTimeId: number;
  nextPqId: number;
}

export interface KeyChange {
  /** The master key the relay now serves, not trusted until verified or accepted. */
  masterKey: Uint8Array;
  deviceList: Uint8Array;
  seenAt: number;
}
export interface Contact {
  /** The pinned (trusted) master key: first seen (TOFU) or verified by safety number. */
  masterKey: Uint8Array;
  verified: boolean;
  pinnedAt: number;
  /** The newest device list verified against `masterKey` (rollback reference), if any. */
  deviceList: Uint8Array | null;
  keyChange: KeyChange | null;
}
export interface ContactsRecord {
  contacts: Map<string, Contact>;
}

export interface SessionEntry {
  /** serializeSession bytes of the session used for sending. */
  current: Uint8Array;
  /** Older sessions with the same device, newest first, still tried when decrypting. */
  previous: Uint8Array[];
}
export interface ReceivedMessage {
  /** The sender's message id (envelope.ts). */
  readonly id: string;
  readonly from: string;
  readonly fromDevice: number;
  /** The recipient: our user, or for a sync copy of our own message, the conversation partner. */
  readonly to: string;
  readonly text: string;
  /** The sender's clock (ms). */
  readonly sentAt: number;
  /** True for a copy of a message sent by another of our devices. */
  readonly sync: boolean;
  /** The relay's id and timestamp of the ciphertext. */
  readonly serverId: string;
  readonly serverSentAt: number;
}
export interface StateRecord {
  /** Keyed `user/deviceId`. */
  sessions: Map<string, SessionEntry>;
  seenServerIds: string[];
  /** base64url of the first 16 bytes of SHA-512 of each processed ciphertext (replays under new relay ids). */
  seenBodies: string[];
  seenMessageIds: string[];
  /** base64url of PQXDH base keys of sessions this device accepted, newest last. */
  baseKeys: string[];
  /** Decrypted messages not yet handed to the application. */
  inbox: ReceivedMessage[];
}
export interface TokensRecord {
  tokens: Map<string, { token: string; expiresAt: number }>;
}

export interface Records {
  account: AccountRecord;
  prekeys: PreKeysRecord;
  contacts: ContactsRecord;
  state: StateRecord;
  tokens: TokensRecord;
}
export type RecordName = keyof Records;
/** Write order within a transaction: a crash between two writes must leave a usable profile. */
const WRITE_ORDER: readonly RecordName[] = ['account', 'contacts', 'state', 'prekeys', 'tokens'];

export const sessionKey = (user: string, deviceId: number) => `${user}/${deviceId}`;

export const LIMITS = {
  seenServerIds: 5000,
  seenBodies: 5000,
  seenMessageIds: 5000,
  baseKeys: 2000,
  previousSessions: 4,
  inbox: 10000,
};

// ---- JSON with tagged bytes and maps -------------------------------------------------------------

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { $b: toBase64url(value) };
  if (value instanceof Map) return { $m: [...value.entries()] };
  return value;
}
function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    if (typeof o.$b === 'string') return fromBase64url(o.$b);
    if (Array.isArray(o.$m)) return new Map(o.$m as [string, unknown][]);
  }
  return value;
}
export const encodeRecord = (value: unknown): Uint8Array => utf8(JSON.stringify({ v: 1, data: value }, replacer));
export function decodeRecord(name: string, bytes: Uint8Array): unknown {
  try {
    const o = JSON.parse(fromUtf8(bytes), reviver) as { v?: unknown; data?: unknown };
    if (o.v !== 1 || typeof o.data !== 'object' || o.data === null) throw new Error('bad record');
    return o.data;
  } catch {
    throw new ProfileCorruptError(`profile record ${name} is corrupt`);
  }
}

function emptyRecord<K extends RecordName>(name: K): Records[K] | undefined {
  const empty: Partial<Records> = {
    contacts: { contacts: new Map() },
    state: { sessions: new Map(), seenServerIds: [], seenBodies: [], seenMessageIds: [], baseKeys: [], inbox: [] },
    tokens: { tokens: new Map() },
  };
  return empty[name] as Records[K] | undefined;
}

function validate(name: RecordName, data: unknown): void {
  const o = data as Record<string, unknown>;
  const ok =
    name === 'account'
      ? typeof o.user === 'string' && Number.isInteger(o.deviceId) && Array.isArray(o.servers) && o.masterSeed instanceof Uint8Array
      : name === 'prekeys'
        ? Array.isArray(o.signed) && Array.isArray(o.oneTime) && Array.isArray(o.pq)
        : name === 'contacts'
          ? o.contacts instanceof Map
          : name === 'state'
            ? o.sessions instanceof Map && Array.isArray(o.seenServerIds) && Array.isArray(o.inbox)
            : o.tokens instanceof Map;
  if (!ok) throw new ProfileCorruptError(`profile record ${name} is corrupt`);
}

// ---- the store ---------------------------------------------------------------------------------

interface Header {
  format: string;
  version: number;
  createdAt: number;
  encryption: null | (KdfParams & { salt: string; check: string });
}

export interface OpenOptions {
  /** The passphrase protecting the profile (BLINDRELAY_PASSPHRASE); undefined or '' for none. */
  passphrase?: string | undefined;
}
export interface CreateOptions extends OpenOptions {
  kdf?: KdfParams;
}

export class Profile {
  readonly storage: ProfileStorage;
  readonly encrypted: boolean;
  readonly #vault: Vault | null;

  private constructor(storage: ProfileStorage, vault: Vault | null) {
    this.storage = storage;
    this.#vault = vault;
    this.encrypted = vault !== null;
  }

  /**
   * Start a new profile: creates the container and writes the header. The caller writes the
   * records; `exists()` turns true only when the header is written, which `commitNew` does last.
   */
  static async create(storage: ProfileStorage, p: Primitives, options: CreateOptions = {}): Promise<{ profile: Profile; commitNew: () => Promise<void> }> {
    await storage.create();
    let vault: Vault | null = null;
    let header: Header = { format: PROFILE_FORMAT, version: PROFILE_VERSION, createdAt: Date.now(), encryption: null };
    if (options.passphrase) {
      const kdf = options.kdf ?? DEFAULT_KDF;
      const salt = p.randomBytes(16);
      vault = new Vault(p, await deriveKey(options.passphrase, salt, kdf));
      const check = await vault.makeCheck();
      header = { ...header, encryption: { ...kdf, salt: toBase64url(salt), check: toBase64url(check) } };
    }
    const profile = new Profile(storage, vault);
    return { profile, commitNew: () => storage.write(HEADER, utf8(`${JSON.stringify(header, null, 2)}\n`)) };
  }

  static async open(storage: ProfileStorage, p: Primitives, options: OpenOptions = {}): Promise<Profile> {
    const raw = await storage.read(HEADER);
    if (!raw) throw new NoProfileError(`no profile at ${storage.location} (create one with: account create, or device link)`);
    let header: Header;
    try {
      header = JSON.parse(fromUtf8(raw)) as Header;
    } catch {
      throw new ProfileCorruptError('profile header is corrupt');
    }
    if (header.format !== PROFILE_FORMAT || header.version !== PROFILE_VERSION) throw new ProfileCorruptError('unsupported profile format');
    if (!header.encryption) {
      if (options.passphrase) throw new PassphraseUnexpectedError();
      return new Profile(storage, null);
    }
    if (!options.passphrase) throw new PassphraseRequiredError();
    const enc = header.encryption;
    const kdf: KdfParams = { algorithm: enc.algorithm, m: enc.m, t: enc.t, p: enc.p };
    checkKdfParams(kdf);
    let salt: Uint8Array;
    let check: Uint8Array;
    try {
      salt = fromBase64url(enc.salt);
      check = fromBase64url(enc.check);
    } catch {
      throw new ProfileCorruptError('profile header is corrupt');
    }
    const vault = new Vault(p, await deriveKey(options.passphrase, salt, kdf));
    try {
      await vault.verifyCheck(check);
    } catch (e) {
      vault.wipe();
      throw e;
    }
    return new Profile(storage, vault);
  }

  #file(name: RecordName): string {
    return `${name}.${this.#vault ? 'bin' : 'json'}`;
  }

  /** Read one record from storage (no lock; for records that do not change, like `account`). */
  async read<K extends RecordName>(name: K): Promise<Records[K]> {
    const file = this.#file(name);
    const raw = await this.storage.read(file);
    if (!raw) {
      const empty = emptyRecord(name);
      if (empty) return empty;
      throw new ProfileCorruptError(`profile record ${name} is missing`);
    }
    let plain = raw;
    if (this.#vault) {
      const opened = await this.#vault.open(file, raw);
      // The header check passed, so a failure here is tampering or corruption, not the passphrase.
      if (!opened) throw new ProfileCorruptError(`profile record ${name} does not authenticate`);
      plain = opened;
    }
    const data = decodeRecord(name, plain);
    validate(name, data);
    return data as Records[K];
  }

  async write<K extends RecordName>(name: K, value: Records[K]): Promise<void> {
    const file = this.#file(name);
    const plain = encodeRecord(value);
    await this.storage.write(file, this.#vault ? await this.#vault.seal(file, plain) : plain);
  }

  /**
   * Run `fn` under the profile lock with fresh copies of the records it asks for; records marked
   * dirty are written (in a crash-safe order) when `fn` returns, or earlier by `tx.flush()`. If
   * `fn` throws, records not yet flushed are discarded.
   */
  transact<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.storage.withLock(async () => {
      const tx = new Transaction(this);
      const result = await fn(tx);
      await tx.flush();
      return result;
    });
  }

  close(): void {
    this.#vault?.wipe();
  }
}

export class Transaction {
  readonly #profile: Profile;
  readonly #loaded = new Map<RecordName, unknown>();
  readonly #dirty = new Set<RecordName>();
  constructor(profile: Profile) {
    this.#profile = profile;
  }
  async get<K extends RecordName>(name: K): Promise<Records[K]> {
    if (!this.#loaded.has(name)) this.#loaded.set(name, await this.#profile.read(name));
    return this.#loaded.get(name) as Records[K];
  }
  /** Replace (or mark as changed, when passing the object from `get`) a record. */
  set<K extends RecordName>(name: K, value: Records[K]): void {
    this.#loaded.set(name, value);
    this.#dirty.add(name);
  }
  async flush(): Promise<void> {
    for (const name of WRITE_ORDER) {
      if (!this.#dirty.has(name)) continue;
      await this.#profile.write(name, this.#loaded.get(name) as Records[typeof name]);
      this.#dirty.delete(name);
    }
  }
}

/** Keep the last `max` items of a list (oldest dropped first). */
export function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}
