/**
 * The embedded blob store: one file per (file id, version) in `<data>/blobs/`, named
 * `<32 hex digits of the id>.<version>` (nothing submitted by a client ever becomes a path),
 * created mode 0600.
 *
 * Durability: an append fsyncs the file before it resolves, and the directory too when it
 * created the file; a deletion unlinks and fsyncs the directory. Crash safety: the metadata's
 * `received` is the truth, so an append first cuts the file to `offset` (= `received`),
 * dropping a tail written before a crash but never recorded.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type BlobKey, BlobMissingError, type BlobStore } from './types.js';

const NAME = /^([0-9a-f]{32})\.([1-9][0-9]{0,15})$/;

export class FsBlobStore implements BlobStore {
  constructor(private readonly dir: string) {}

  private path(key: BlobKey): string {
    if (key.fileId.length !== 16 || !Number.isSafeInteger(key.version) || key.version < 1) throw new Error('invalid blob key');
    return join(this.dir, `${Buffer.from(key.fileId).toString('hex')}.${key.version}`);
  }

  private async syncDir(): Promise<void> {
    const d = await open(this.dir, constants.O_RDONLY);
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  async append(key: BlobKey, offset: number, data: Uint8Array): Promise<void> {
    const path = this.path(key);
    let created = false;
    let f: FileHandle;
    if (offset === 0) {
      f = await open(path, constants.O_RDWR | constants.O_CREAT, 0o600);
      created = true;
    } else {
      try {
        f = await open(path, constants.O_RDWR);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobMissingError();
        throw err;
      }
    }
    try {
      if ((await f.stat()).size < offset) throw new BlobMissingError();
      await f.truncate(offset);
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await f.write(data, written, data.length - written, offset + written);
        written += bytesWritten;
      }
      await f.sync();
    } finally {
      await f.close();
    }
    if (created) await this.syncDir();
  }

  async read(key: BlobKey, start: number, end: number): Promise<Readable> {
    const path = this.path(key);
    const f = await open(path, constants.O_RDONLY).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new BlobMissingError() : err;
    });
    if ((await f.stat()).size < end) {
      await f.close();
      throw new BlobMissingError();
    }
    // The open handle keeps the bytes readable even if the blob is unlinked meanwhile.
    return f.createReadStream({ start, end: end - 1, autoClose: true, highWaterMark: 256 * 1024 });
  }

  async delete(key: BlobKey): Promise<void> {
    try {
      await unlink(this.path(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await this.syncDir();
  }

  async list(): Promise<BlobKey[]> {
    const out: BlobKey[] = [];
    for (const name of await readdir(this.dir)) {
      const m = NAME.exec(name);
      if (m) out.push({ fileId: new Uint8Array(Buffer.from(m[1] as string, 'hex')), version: Number(m[2]) });
    }
    return out;
  }

  /** Bytes on disk for a blob (tests); undefined if absent. */
  async size(key: BlobKey): Promise<number | undefined> {
    try {
      return (await stat(this.path(key))).size;
    } catch {
      return undefined;
    }
  }
}
