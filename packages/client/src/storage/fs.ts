/**
 * Profile storage in a directory (Node). One directory per profile, mode 0700; files mode 0600.
 *
 * Writes are atomic: the bytes go to a temporary file in the same directory, which is fsync'ed,
 * renamed over the target, and the directory is fsync'ed, so a crash leaves either the old or the
 * new file, never a torn one. Cross-process exclusion uses a lock file created with O_EXCL holding
 * the owner's pid; a lock whose owner is no longer alive is taken over.
 */
import { constants, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { InvalidArgumentError, ProfileExistsError, ProfileLockedError } from '../errors.js';
import { FILE_NAME, Mutex, type ProfileStorage } from './types.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
const HEADER = 'profile.json';
const LOCK = '.lock';
/** An empty lock file this old was left by a process killed while taking the lock. */
const EMPTY_LOCK_GRACE_MS = 5_000;

export interface FileStorageOptions {
  /** Give up waiting for another process's lock after this long (default 30 s). */
  lockTimeoutMs?: number;
}

export class FileStorage implements ProfileStorage {
  readonly location: string;
  readonly #lockTimeoutMs: number;
  readonly #mutex = new Mutex();
  /** Files written through this instance: all `destroy` may delete. */
  readonly #written = new Set<string>();

  #madeFrom: string | undefined;

  constructor(dir: string, options: FileStorageOptions = {}) {
    this.location = dir;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 30_000;
  }

  async exists(): Promise<boolean> {
    try {
      await fs.access(join(this.location, HEADER));
      return true;
    } catch {
      return false;
    }
  }

  async create(): Promise<void> {
    if (await this.exists()) throw new ProfileExistsError(`a profile already exists at ${this.location}`);
    // Never adopt a directory that holds anything (a typo in --home must not put keys among documents).
    const entries = await fs.readdir(this.location).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw e;
    });
    if (entries.length > 0) throw new ProfileExistsError(`${this.location} is not empty: choose another profile or remove it`);
    // The first directory mkdir made (the --home itself, when new): destroy() removes it again if empty.
    this.#madeFrom = await fs.mkdir(this.location, { recursive: true, mode: DIR_MODE });
    // mkdir's mode is subject to the umask and ignored for existing directories: set it.
    await fs.chmod(this.location, DIR_MODE);
  }

  async read(name: string): Promise<Uint8Array | null> {
    checkName(name);
    try {
      const b = await fs.readFile(join(this.location, name));
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async write(name: string, data: Uint8Array): Promise<void> {
    checkName(name);
    const target = join(this.location, name);
    const temp = join(this.location, `.${name}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
    const fh = await fs.open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await fs.rm(temp, { force: true });
      throw e;
    }
    await fh.close();
    try {
      await fs.rename(temp, target);
      this.#written.add(name);
    } catch (e) {
      await fs.rm(temp, { force: true });
      throw e;
    }
    await syncDir(this.location);
  }

  async remove(name: string): Promise<void> {
    checkName(name);
    await fs.rm(join(this.location, name), { force: true });
    await syncDir(this.location);
  }

  /** Remove the files this instance wrote, then the directory if that leaves it empty. */
  async destroy(): Promise<void> {
    for (const name of this.#written) await fs.rm(join(this.location, name), { force: true });
    this.#written.clear();
    await fs.rmdir(this.location).catch(() => undefined);
    // A failed create leaves no empty --home behind either (review ux-2026-12 F23); never a directory with anything in it.
    const top = this.#madeFrom;
    this.#madeFrom = undefined;
    if (top === undefined) return;
    for (let dir = dirname(this.location); dir.length >= top.length && dir.startsWith(top); dir = dirname(dir)) {
      if (
        !(await fs.rmdir(dir).then(
          () => true,
          () => false,
        ))
      )
        break;
      if (dir === top) break;
    }
  }

  /** Every regular file of the directory (the profile's records, temporary files, the lock) zeroed, fsynced and unlinked; then the directory. */
  async erase(): Promise<void> {
    const entries = await fs.readdir(this.location, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw e;
    });
    for (const entry of entries) {
      const path = join(this.location, entry.name);
      if (!entry.isFile()) continue;
      const fh = await fs.open(path, 'r+');
      try {
        const { size } = await fh.stat();
        const zeros = new Uint8Array(Math.min(size, 1 << 20));
        for (let at = 0; at < size; at += zeros.length) await fh.write(zeros, 0, Math.min(zeros.length, size - at), at);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rm(path, { force: true });
    }
    this.#written.clear();
    await syncDir(this.location).catch(() => undefined);
    await fs.rmdir(this.location).catch(() => undefined);
    // A failed create leaves no empty --home behind either (review ux-2026-12 F23); never a directory with anything in it.
    const top = this.#madeFrom;
    this.#madeFrom = undefined;
    if (top === undefined) return;
    for (let dir = dirname(this.location); dir.length >= top.length && dir.startsWith(top); dir = dirname(dir)) {
      if (
        !(await fs.rmdir(dir).then(
          () => true,
          () => false,
        ))
      )
        break;
      if (dir === top) break;
    }
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(async () => {
      const release = await this.#acquire();
      try {
        return await fn();
      } finally {
        await release();
      }
    });
  }

  async #acquire(): Promise<() => Promise<void>> {
    const path = join(this.location, LOCK);
    const deadline = Date.now() + this.#lockTimeoutMs;
    const token = `${process.pid} ${Math.random().toString(36).slice(2)}`;
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      try {
        const fh = await fs.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, FILE_MODE);
        await fh.writeFile(token);
        await fh.close();
        return async () => {
          // Only remove the lock if it is still ours.
          const held = await fs.readFile(path, 'utf8').catch(() => '');
          if (held === token) await fs.rm(path, { force: true });
        };
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw e;
        if (code !== 'EEXIST') throw e;
      }
      const held = await fs.readFile(path, 'utf8').catch(() => '');
      const pid = Number.parseInt(held.split(' ')[0] ?? '', 10);
      // An empty file is a lock being written right now; only a dead owner is taken over, and an
      // empty lock older than EMPTY_LOCK_GRACE_MS: its creator was killed (kill -9) between
      // creating it and writing its name (found by packages/client/test/crash-batched.test.ts).
      let stale = Number.isInteger(pid) && pid > 0 && !alive(pid);
      if (!stale && held === '') {
        const st = await fs.stat(path).catch(() => null);
        stale = st !== null && Date.now() - st.mtimeMs > EMPTY_LOCK_GRACE_MS;
      }
      if (stale) {
        // Take over atomically: move the lock aside, and only discard it if it is still the dead
        // owner's. Removing it by name could delete a lock another process has just created.
        const aside = `${path}.${token.replace(' ', '-')}`;
        try {
          await fs.rename(path, aside);
        } catch {
          continue;
        }
        const moved = await fs.readFile(aside, 'utf8').catch(() => '');
        if (moved !== held) await fs.link(aside, path).catch(() => undefined); // a live lock: put it back
        await fs.rm(aside, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new ProfileLockedError(`the profile at ${this.location} is locked by process ${held.split(' ')[0] || '?'}`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function syncDir(dir: string): Promise<void> {
  let fh: fs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, constants.O_RDONLY);
    await fh.sync();
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

function checkName(name: string): void {
  if (!FILE_NAME.test(name)) throw new InvalidArgumentError(`bad profile file name ${name}`);
}
