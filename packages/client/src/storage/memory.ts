/** In-memory profile storage: tests, and a template for other platforms. */
import { InvalidArgumentError, ProfileExistsError } from '../errors.js';
import { FILE_NAME, Mutex, type ProfileStorage } from './types.js';

export class MemoryStorage implements ProfileStorage {
  readonly location = 'memory';
  readonly files = new Map<string, Uint8Array>();
  #created = false;
  #mutex = new Mutex();

  async exists(): Promise<boolean> {
    return this.files.has('profile.json');
  }
  async create(): Promise<void> {
    if (await this.exists()) throw new ProfileExistsError('a profile already exists here');
    this.#created = true;
  }
  async read(name: string): Promise<Uint8Array | null> {
    checkName(name);
    return this.files.get(name)?.slice() ?? null;
  }
  async write(name: string, data: Uint8Array): Promise<void> {
    checkName(name);
    if (!this.#created && !this.files.size) this.#created = true;
    this.files.set(name, data.slice());
  }
  async remove(name: string): Promise<void> {
    checkName(name);
    this.files.delete(name);
  }
  async erase(): Promise<void> {
    for (const data of this.files.values()) data.fill(0);
    await this.destroy();
  }
  async destroy(): Promise<void> {
    this.files.clear();
    this.#created = false;
  }
  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.#mutex.run(fn);
  }
}

function checkName(name: string): void {
  if (!FILE_NAME.test(name)) throw new InvalidArgumentError(`bad profile file name ${name}`);
}
