/**
 * `node:sqlite`, loaded when the embedded store opens instead of when this package is imported:
 * importing `@blindrelay/server` on a Node without it (Node 20; other packages import its types)
 * must not throw, and starting the embedded relay there must fail with one clear sentence (printed
 * by main.ts as `blindrelay server: …`, exit 1), not a stack trace.
 *
 * The store needs `DatabaseSync.isTransaction` (group commit detects a transaction SQLite
 * abandoned with it) and `StatementSync.setReturnArrays` (single-column reads): Node 24, or 22.16
 * and later on the 22 line. On Node 22.16 to 24.14 loading the module prints Node's own
 * "SQLite is an experimental feature" warning; from 24.15 the module is a release candidate and
 * prints nothing.
 */
import type * as sqlite from 'node:sqlite';

/** The embedded store cannot run on this Node. */
export class SqliteUnavailableError extends Error {
  readonly code = 'ERR_SQLITE_UNAVAILABLE';
  constructor(nodeVersion: string = process.version) {
    super(
      `the embedded relay needs node:sqlite (Node 22.16+ or 24), which this Node ${nodeVersion.replace(/^v/, '')} does not offer; ` +
        'run it through npm / npx in the repository, which use the pinned Node 24, or store in PostgreSQL with --database postgres://…',
    );
    this.name = 'SqliteUnavailableError';
  }
}

let loaded: typeof sqlite | undefined;

/** `node:sqlite` if this Node has it with what the store uses; throws SqliteUnavailableError otherwise. */
export function loadNodeSqlite(): typeof sqlite {
  if (loaded) return loaded;
  // getBuiltinModule (Node 20.16+, 22.3+) is synchronous and returns undefined for a module this
  // Node does not have; a static or dynamic import of the missing module would throw instead.
  const m = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule('node:sqlite') : undefined;
  if (!m || typeof m.StatementSync?.prototype.setReturnArrays !== 'function') throw new SqliteUnavailableError();
  const probe = new m.DatabaseSync(':memory:');
  try {
    if (typeof probe.isTransaction !== 'boolean') throw new SqliteUnavailableError();
  } finally {
    probe.close();
  }
  loaded = m;
  return m;
}
