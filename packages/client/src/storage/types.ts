/**
 * Where a profile's files live. The SDK sees named byte strings only; encryption at rest happens
 * above this interface (vault.ts), so an implementation never sees plaintext key material when a
 * passphrase is set. Node: FileStorage (one directory per profile); browsers: IndexedDB (later).
 */
export interface ProfileStorage {
  /** A short description for messages, e.g. the directory path. */
  readonly location: string;
  /** True if the profile exists (its header has been written). */
  exists(): Promise<boolean>;
  /** Create the (empty) container with restrictive permissions; fails if it already holds a profile. */
  create(): Promise<void>;
  /** The bytes of a file, or null if it does not exist. */
  read(name: string): Promise<Uint8Array | null>;
  /** Replace a file atomically: after a crash, readers see the old bytes or the new, never a mix. */
  write(name: string, data: Uint8Array): Promise<void>;
  remove(name: string): Promise<void>;
  /** Delete what this instance wrote, and the container if then empty (account creation failed half way). */
  destroy(): Promise<void>;
  /**
   * Erase the whole profile (account deletion): overwrite every file of the container with zeros,
   * delete it, then the container. Best effort against recovery from the medium: journaling,
   * copy-on-write and flash wear levelling may keep older blocks (README, "Account deletion").
   */
  erase(): Promise<void>;
  /**
   * Run `fn` holding the profile's exclusive lock (across processes sharing the profile, and within
   * this one). Not re-entrant.
   */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}

/** File names the SDK uses: lowercase letters, digits, dashes and one extension. */
export const FILE_NAME = /^[a-z0-9-]{1,40}(\.[a-z]{1,8})?$/;

/** A promise-chain mutex for the in-process half of `withLock`. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
