/**
 * Profile storage in a browser's IndexedDB (the web app, apps/web).
 *
 * One database per profile (`blindrelay:<name>`), one object store `files` (name → bytes) and one
 * `keys` holding a non-extractable AES-256-GCM CryptoKey made by this origin
 * (`generateKey(..., extractable = false)`; IndexedDB stores CryptoKey objects as they are, W3C
 * WebCrypto §13 structured clone). Every file is sealed under it before it is stored:
 *   stored = nonce[12] ‖ AES-256-GCM(wrapKey, nonce, data, ad = "BRIDB1" ‖ 0x00 ‖ file name)
 * so the key bytes of the profile (device seeds, ratchet state) never sit in IndexedDB in the
 * clear, and a copy of the browser's profile directory (disk image, backup, another program
 * reading it) is useless without the browser's key store; script running in this origin can still
 * use the key (never read it): that is what the optional passphrase (vault.ts, Argon2id) adds to.
 *
 * Why the protocol keys themselves are not CryptoKeys: the SDK's primitives take raw 32-byte
 * seeds (X25519, Ed25519), the Double Ratchet serialises its chain and root keys into the session
 * state after every message (Revision 3 §3.2: the state must be stored), ML-KEM-768 comes from
 * @noble (no browser has it), and a primary device seals its keys to a linked device and into the
 * backup. Those must be exportable; the wrap key is the one key that never needs to be.
 *
 * Writes are IndexedDB transactions (atomic: readers see the old bytes or the new); `withLock` is a
 * Web Lock (`navigator.locks`), held across the tabs of the origin.
 */
import { concat, utf8 } from '@blindrelay/protocol';
import { InvalidArgumentError, ProfileCorruptError, ProfileExistsError } from '../errors.js';
import { FILE_NAME, Mutex, type ProfileStorage } from './types.js';

const FILES = 'files';
const KEYS = 'keys';
const WRAP_KEY = 'wrap';
const AD_PREFIX = utf8('BRIDB1\u0000');
const NONCE_BYTES = 12;

type Buf = Uint8Array<ArrayBuffer>;
const b = (u: Uint8Array): Buf => new Uint8Array(u) as Buf;

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

export interface IndexedDbStorageOptions {
  /** Defaults to globalThis.indexedDB. */
  readonly indexedDB?: IDBFactory;
  /** Defaults to globalThis.crypto. */
  readonly crypto?: Crypto;
}

export class IndexedDbStorage implements ProfileStorage {
  readonly location: string;
  readonly #name: string;
  readonly #idb: IDBFactory;
  readonly #subtle: SubtleCrypto;
  readonly #crypto: Crypto;
  readonly #mutex = new Mutex();
  #db: Promise<IDBDatabase> | undefined;
  #key: Promise<CryptoKey> | undefined;

  constructor(profile: string, options: IndexedDbStorageOptions = {}) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(profile)) throw new InvalidArgumentError('a profile name is letters, digits, ".", "_" or "-" (at most 64)');
    this.#name = `blindrelay:${profile}`;
    this.location = `IndexedDB ${this.#name}`;
    const idb = options.indexedDB ?? globalThis.indexedDB;
    if (!idb) throw new InvalidArgumentError('this browser has no IndexedDB (a private window may disable it)');
    this.#idb = idb;
    this.#crypto = options.crypto ?? globalThis.crypto;
    this.#subtle = this.#crypto.subtle;
  }

  #open(): Promise<IDBDatabase> {
    this.#db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const r = this.#idb.open(this.#name, 1);
      r.onupgradeneeded = () => {
        r.result.createObjectStore(FILES);
        r.result.createObjectStore(KEYS);
      };
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error ?? new Error('IndexedDB open failed'));
    }).catch((e) => {
      this.#db = undefined;
      throw e;
    });
    return this.#db;
  }

  /** The wrap key, made (non-extractable) on first use. */
  #wrapKey(create: boolean): Promise<CryptoKey> {
    this.#key ??= (async () => {
      const db = await this.#open();
      const existing = await request(db.transaction(KEYS, 'readonly').objectStore(KEYS).get(WRAP_KEY));
      if (existing instanceof CryptoKey) return existing;
      if (!create) throw new ProfileCorruptError(`${this.location}: the profile's key is missing (browser data partly cleared?)`);
      const key = await this.#subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
      const tx = db.transaction(KEYS, 'readwrite');
      tx.objectStore(KEYS).put(key, WRAP_KEY);
      await done(tx);
      return key;
    })().catch((e) => {
      this.#key = undefined;
      throw e;
    });
    return this.#key;
  }

  async exists(): Promise<boolean> {
    const db = await this.#open();
    const header = await request(db.transaction(FILES, 'readonly').objectStore(FILES).getKey('profile.json'));
    return header !== undefined;
  }

  async create(): Promise<void> {
    if (await this.exists()) throw new ProfileExistsError(`a profile already exists in ${this.location}`);
    await this.#wrapKey(true);
  }

  async read(name: string): Promise<Uint8Array | null> {
    checkName(name);
    const db = await this.#open();
    const stored = await request(db.transaction(FILES, 'readonly').objectStore(FILES).get(name));
    if (stored === undefined) return null;
    if (!(stored instanceof Uint8Array) || stored.length < NONCE_BYTES + 16) throw new ProfileCorruptError(`${this.location}: ${name} is damaged`);
    const key = await this.#wrapKey(false);
    try {
      const plain = await this.#subtle.decrypt(
        { name: 'AES-GCM', iv: b(stored.subarray(0, NONCE_BYTES)), additionalData: b(concat(AD_PREFIX, utf8(name))) },
        key,
        b(stored.subarray(NONCE_BYTES)),
      );
      return new Uint8Array(plain);
    } catch {
      throw new ProfileCorruptError(`${this.location}: ${name} does not decrypt under this browser's key`);
    }
  }

  async write(name: string, data: Uint8Array): Promise<void> {
    checkName(name);
    const key = await this.#wrapKey(true);
    const nonce = this.#crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    const sealed = await this.#subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: b(concat(AD_PREFIX, utf8(name))) }, key, b(data));
    const db = await this.#open();
    const tx = db.transaction(FILES, 'readwrite');
    tx.objectStore(FILES).put(concat(nonce, new Uint8Array(sealed)), name);
    await done(tx);
  }

  async remove(name: string): Promise<void> {
    checkName(name);
    const db = await this.#open();
    const tx = db.transaction(FILES, 'readwrite');
    tx.objectStore(FILES).delete(name);
    await done(tx);
  }

  /** Delete the database (its files and its key). */
  async destroy(): Promise<void> {
    const db = await this.#db?.catch(() => undefined);
    db?.close();
    this.#db = undefined;
    this.#key = undefined;
    await request(this.#idb.deleteDatabase(this.#name));
  }

  /**
   * Overwrite every file with zeros, then delete the database. The browser decides what stays on
   * disk (its own journal and compaction); without the key (deleted with the database) what stays
   * is ciphertext.
   */
  async erase(): Promise<void> {
    const db = await this.#open();
    const names = (await request(db.transaction(FILES, 'readonly').objectStore(FILES).getAllKeys())) as string[];
    const tx = db.transaction([FILES, KEYS], 'readwrite');
    for (const name of names) tx.objectStore(FILES).put(new Uint8Array(64), name);
    tx.objectStore(KEYS).delete(WRAP_KEY);
    await done(tx);
    await this.destroy();
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    const locks = (globalThis.navigator as Navigator | undefined)?.locks;
    if (!locks) return this.#mutex.run(fn);
    return this.#mutex.run(() => locks.request(this.#name, () => fn()) as Promise<T>);
  }
}

function checkName(name: string): void {
  if (!FILE_NAME.test(name)) throw new InvalidArgumentError(`bad profile file name ${name}`);
}
