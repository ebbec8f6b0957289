/**
 * Creating the relay's data directory (review ux-2026-12 F4). `mkdirSync(…, {recursive: true})`
 * never returns for a path such as /proc/nope, where the parent exists but mkdir answers ENOENT
 * (libuv retries the parent forever). So each missing component is created on its own, parent
 * first, and the first failure is reported with the path and the reason.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export class DataDirectoryError extends Error {
  readonly code = 'ERR_DATA_DIRECTORY';
}

const REASONS: Record<string, string> = {
  ENOENT: 'the parent directory refuses new entries',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a component of the path is not a directory',
  ENOSPC: 'no space left on the device',
};

/** `dir` exists as a directory afterwards (missing components made with `mode`), or this throws DataDirectoryError. */
export function ensureDirectory(dir: string, mode = 0o700): void {
  const full = resolve(dir);
  const missing: string[] = [];
  let at = full;
  while (!existsSync(at)) {
    missing.unshift(at);
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  const fail = (path: string, code: string) => new DataDirectoryError(`cannot use the data directory ${dir}: ${path}: ${REASONS[code] ?? code} (${code})`);
  if (existsSync(at) && !statSync(at).isDirectory()) throw fail(at, 'ENOTDIR');
  for (const d of missing) {
    try {
      mkdirSync(d, { mode });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      if (code === 'EEXIST' && statSync(d).isDirectory()) continue;
      throw fail(d, code === 'EEXIST' ? 'ENOTDIR' : code);
    }
  }
}
