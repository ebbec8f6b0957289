/**
 * Files on this machine's disk for the file operations (files.ts): a plaintext source read with
 * large positioned reads, and outputs that appear only when complete — written to a temporary
 * file beside the target (0600), fsync'd, then renamed; on any failure the temporary file is
 * removed, so no partial plaintext is ever left behind.
 */
import { randomBytes } from 'node:crypto';
import { unlinkSync } from 'node:fs';
import { constants, copyFile, link, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { utf8 } from '@blindrelay/protocol';
import { FileExistsError, InvalidArgumentError, SourceChangedError } from './errors.js';
import { checkFileName, type FileMeta } from './file-meta.js';
import type { DownloadOptions, ExportResult, FileSink, FileSource, FileSummary, ProgressListener } from './files.js';
import { SequentialFileWriter } from './sequential-writer.js';

/** Output buffers of downloads: three of 1 MiB (sequential-writer.ts). */
const WRITE_BLOCK_BYTES = 1 << 20;

/** Bytes per read of the source (a multiple of the 64 KiB age chunk). */
const READ_BYTES = 1024 * 1024;

/** A regular file as an upload source (its absolute path identifies it for resuming). */
export async function fileSource(path: string): Promise<FileSource> {
  const full = resolve(path);
  let s: Awaited<ReturnType<typeof stat>>;
  try {
    s = await stat(full);
  } catch {
    throw new InvalidArgumentError(`cannot read ${path}: no such file`);
  }
  if (!s.isFile()) throw new InvalidArgumentError(`${path} is not a regular file`);
  return {
    name: basename(full),
    size: s.size,
    mtimeMs: Math.floor(s.mtimeMs),
    key: full,
    async *read(position: number) {
      const fh = await open(full, 'r');
      try {
        // Every (re)read checks the file is still the one the upload started from.
        const now = await fh.stat();
        if (now.size !== s.size || Math.floor(now.mtimeMs) !== Math.floor(s.mtimeMs)) {
          throw new SourceChangedError(`${path} changed (size or modification time) since the upload started`);
        }
        let at = position;
        for (;;) {
          // A fresh buffer per read: the consumer may keep the bytes (the encryptor copies, but callers of this source need not know).
          const buf = Buffer.allocUnsafe(READ_BYTES);
          const { bytesRead } = await fh.read(buf, 0, READ_BYTES, at);
          if (bytesRead === 0) return;
          at += bytesRead;
          yield new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
        }
      } finally {
        await fh.close();
      }
    },
  };
}

/** link() errors of file systems without hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Temporary files being written now (removed by `removePartialFiles` when the process is interrupted). */
const partial = new Set<string>();

/** Remove the temporary files of unfinished downloads (call from a SIGINT/SIGTERM handler). */
export function removePartialFiles(): void {
  for (const path of partial) {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
  partial.clear();
}

export interface AtomicFile extends FileSink {
  /** fsync and rename onto the target. */
  commit(): Promise<void>;
  /** Remove the temporary file (after a failure). */
  abort(): Promise<void>;
}

/**
 * A file written beside `target` under a temporary name and renamed onto it by `commit`. Refuses
 * an existing target unless `overwrite`.
 */
export async function atomicFile(target: string, options: { overwrite?: boolean; mode?: number } = {}): Promise<AtomicFile> {
  const full = resolve(target);
  if (!options.overwrite && (await exists(full))) throw new FileExistsError(target);
  // A short temporary name (a stored name near 255 bytes would not fit with a suffix).
  const temp = join(dirname(full), `.blindrelay-${randomBytes(8).toString('hex')}.part`);
  let out: SequentialFileWriter;
  try {
    // Past the page cache where the file system allows (sequential-writer.ts says why).
    out = await SequentialFileWriter.open(temp, { blockBytes: WRITE_BLOCK_BYTES, flag: 'wx', mode: options.mode ?? 0o600 });
  } catch (e) {
    throw new InvalidArgumentError(`cannot write in ${dirname(full)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  partial.add(temp);
  return {
    write(chunk) {
      return out.write(chunk);
    },
    async commit() {
      await out.close({ sync: true });
      if (options.overwrite) {
        await rename(temp, full);
      } else {
        // link() refuses an existing target atomically (rename would replace one created meanwhile).
        try {
          await link(temp, full);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code ?? '';
          if (!NO_HARD_LINKS.has(code)) {
            await unlink(temp).catch(() => {});
            if (code === 'EEXIST') throw new FileExistsError(target);
            throw e;
          }
          // A file system without hard links (FAT, some network mounts): an exclusive copy instead.
          try {
            await copyFile(temp, full, constants.COPYFILE_EXCL);
          } catch (copyError) {
            await unlink(temp).catch(() => {});
            if ((copyError as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(target);
            throw copyError;
          }
          const copy = await open(full, 'r+');
          try {
            await copy.sync();
          } finally {
            await copy.close();
          }
        }
        await unlink(temp);
      }
      partial.delete(temp);
      // Make the rename itself durable.
      const dir = await open(dirname(full), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    },
    async abort() {
      await out.abort();
      await unlink(temp).catch(() => {});
      partial.delete(temp);
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** What the path-based helpers need of the client (BlindrelayClient has these). */
interface FileClient {
  getFile(
    id: string,
    open: (meta: FileMeta, file: FileSummary) => Promise<FileSink>,
    onProgress?: ProgressListener,
    options?: DownloadOptions,
  ): Promise<FileSummary>;
  exportFile(id: string, open: (meta: FileMeta) => Promise<FileSink>, onProgress?: ProgressListener, options?: DownloadOptions): Promise<ExportResult>;
}

/**
 * Download file `id` to `output` (a path; a directory or undefined: the stored name in it, or in
 * the current directory). The plaintext appears only once every chunk authenticated and the
 * payload matched its owner's seal (a file stored before 2026-12-03 only with `allowUnsigned`).
 */
export async function saveFile(
  client: FileClient,
  id: string,
  options: { output?: string; overwrite?: boolean; onProgress?: ProgressListener } & DownloadOptions = {},
): Promise<{ file: FileSummary; path: string }> {
  let out: AtomicFile | undefined;
  let path = '';
  try {
    const file = await client.getFile(
      id,
      async (meta) => {
        path = await outputPath(options.output, meta.name);
        out = await atomicFile(path, { overwrite: options.overwrite ?? false });
        return out;
      },
      options.onProgress,
      { allowUnsigned: options.allowUnsigned ?? false },
    );
    await (out as AtomicFile).commit();
    return { file, path };
  } catch (e) {
    await out?.abort();
    throw e;
  }
}

/**
 * Write file `id` as a standard age file to `output` and the identity that decrypts it to
 * `identityOutput` (0600). Both appear only when the export verified.
 */
export async function exportFileToPath(
  client: FileClient,
  id: string,
  options: { output: string; identityOutput: string; overwrite?: boolean; onProgress?: ProgressListener } & DownloadOptions,
): Promise<ExportResult & { path: string; identityPath: string }> {
  const identityPath = resolve(options.identityOutput);
  const path = resolve(options.output);
  if (identityPath === path) throw new InvalidArgumentError('the age file and the identity file must be different paths');
  const keyFile = await atomicFile(identityPath, { overwrite: options.overwrite ?? false, mode: 0o600 });
  let out: AtomicFile | undefined;
  try {
    const r = await client.exportFile(
      id,
      async () => {
        out = await atomicFile(path, { overwrite: options.overwrite ?? false });
        return out;
      },
      options.onProgress,
      { allowUnsigned: options.allowUnsigned ?? false },
    );
    const created = new Date().toISOString();
    await keyFile.write(
      utf8(`# created: ${created}\n# public key: ${r.recipient}\n# decrypts ${basename(path)} (blindrelay file ${id}); keep it secret\n${r.identity}\n`),
    );
    await (out as AtomicFile).commit();
    await keyFile.commit();
    return { ...r, path, identityPath };
  } catch (e) {
    await out?.abort();
    await keyFile.abort();
    throw e;
  }
}

/**
 * Where a download goes. The stored name comes from whoever shared the file: it is a base name
 * (file-meta.ts), and a dot-name (`.bashrc`, `.envrc`, `.npmrc`…) is never written under that name
 * unless the caller names the output file itself.
 */
async function outputPath(output: string | undefined, name: string): Promise<string> {
  const stored = () => {
    checkFileName(name);
    if (name.startsWith('.')) throw new InvalidArgumentError('the stored file name starts with "." (a hidden file): choose the output file name with -o');
    return name;
  };
  if (output === undefined) return resolve(stored());
  const full = resolve(output);
  // "DIR/" names a directory: write into it, or refuse when there is none (review ux-2026-12 F11).
  if (/[/\\]$/.test(output)) {
    const dir = await stat(full).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!dir) throw new InvalidArgumentError(`no such directory: ${output} (create it first, or give a file name without the trailing "/")`);
    return join(full, stored());
  }
  const isDirectory = await stat(full).then(
    (s) => s.isDirectory(),
    () => false, // not there yet: a file path
  );
  return isDirectory ? join(full, stored()) : full;
}
