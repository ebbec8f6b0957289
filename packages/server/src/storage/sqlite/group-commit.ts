/**
 * Group commit for the SQLite store. With `synchronous = FULL` every COMMIT is an fsync (about a
 * millisecond here) during which node:sqlite, a synchronous API, blocks the event loop. Instead of
 * one transaction per write, repository writes are queued as closures and a flusher, scheduled
 * with setImmediate, runs the queued closures in order inside ONE `BEGIN IMMEDIATE … COMMIT`: many
 * concurrent requests share one fsync.
 *
 * Guarantees, per operation:
 * - Atomic and isolated: each closure runs inside its own SAVEPOINT, serially, and sees the effects
 *   of the closures before it. A closure that throws is rolled back to its savepoint alone; only
 *   its own promise rejects.
 * - Durable before anyone hears of it: promises settle only after COMMIT has returned (so after the
 *   fsync). If BEGIN or COMMIT fails, or an error makes SQLite abandon the whole transaction,
 *   every operation of that batch rejects: none of them is committed.
 * - Ordered: operations run in the order they were queued.
 *
 * A batch holds at most `maxOperations` closures and, past the first one, at most `maxBytes` of
 * declared payload, so one commit never blocks the loop for long; the rest waits for the next
 * turn of the event loop (setImmediate again), letting I/O in between.
 *
 * Reads do not go through here: they run at once and see committed data only (nothing is ever
 * left uncommitted between turns of the event loop, since a batch runs synchronously from BEGIN to
 * COMMIT). A request awaits its own writes before it answers, so it reads its own writes.
 */
import type { DatabaseSync } from 'node:sqlite';

export interface CommitInfo {
  /** Operations in the batch (committed or rolled back to their savepoint). */
  readonly operations: number;
  /** Of those, how many threw (rolled back alone). */
  readonly failed: number;
  /** BEGIN to COMMIT, milliseconds (includes the fsync). */
  readonly durationMs: number;
  /** False when BEGIN or COMMIT failed and the whole batch was rejected. */
  readonly committed: boolean;
}

export interface GroupCommitOptions {
  /** Most operations per transaction (default 256). */
  readonly maxOperations?: number;
  /** Most declared payload bytes per transaction, the first operation excepted (default 4 MiB). */
  readonly maxBytes?: number;
  /** Called after every batch (metrics, tests). */
  readonly onCommit?: (info: CommitInfo) => void;
}

export const DEFAULT_MAX_OPERATIONS = 256;
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;

interface Pending {
  readonly op: () => unknown;
  readonly bytes: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (reason: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export class StorageClosedError extends Error {
  constructor() {
    super('storage is closed');
    this.name = 'StorageClosedError';
  }
}

export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private readonly maxOperations: number;
  private readonly maxBytes: number;
  private readonly onCommit: ((info: CommitInfo) => void) | undefined;
  private readonly s;

  constructor(
    private readonly db: DatabaseSync,
    options: GroupCommitOptions = {},
  ) {
    this.maxOperations = Math.max(1, options.maxOperations ?? DEFAULT_MAX_OPERATIONS);
    this.maxBytes = Math.max(0, options.maxBytes ?? DEFAULT_MAX_BYTES);
    this.onCommit = options.onCommit;
    this.s = {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT group_commit_op'),
      release: db.prepare('RELEASE group_commit_op'),
      rollbackTo: db.prepare('ROLLBACK TO group_commit_op'),
    };
  }

  /** Operations queued and not yet committed. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Queues `op` (synchronous; it may read and write through this connection) for the next group
   * commit; resolves with its return value once committed. `bytes`: payload it writes, for the
   * batch budget.
   */
  run<T>(op: () => T, bytes = 0): Promise<T> {
    if (this.closed) return Promise.reject(new StorageClosedError());
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, bytes, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
    });
  }

  /** Commits everything queued now, synchronously (before close). */
  drain(): void {
    while (this.queue.length > 0) this.commitBatch();
  }

  /** Drains the queue, then refuses new operations. */
  close(): void {
    this.drain();
    this.closed = true;
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    this.commitBatch();
    if (this.queue.length > 0 && !this.scheduled) {
      // More than one batch was queued: yield to I/O, then commit the next one.
      this.scheduled = true;
      setImmediate(this.flush);
    }
  };

  private take(): Pending[] {
    const q = this.queue;
    let n = 0;
    let bytes = 0;
    while (n < q.length && n < this.maxOperations) {
      const b = (q[n] as Pending).bytes;
      if (n > 0 && bytes + b > this.maxBytes) break;
      bytes += b;
      n++;
    }
    return n === q.length ? this.queue.splice(0) : q.splice(0, n);
  }

  private commitBatch(): void {
    const batch = this.take();
    const { db, s } = this;
    const started = performance.now();
    const outcomes: Outcome[] = [];
    let failed = 0;
    try {
      s.begin.run();
    } catch (error) {
      for (const p of batch) p.reject(error);
      this.report(batch.length, batch.length, started, false);
      return;
    }
    for (const p of batch) {
      let opened = false;
      try {
        s.savepoint.run();
        opened = true;
        const value = p.op();
        if (value instanceof Promise) throw new TypeError('a group-commit operation must be synchronous');
        s.release.run();
        outcomes.push({ ok: true, value });
      } catch (error) {
        failed++;
        outcomes.push({ ok: false, error });
        if (!db.isTransaction) {
          // SQLite abandoned the whole transaction (I/O error, disk full...): nothing of this
          // batch is committed; the operations not yet run go back to the head of the queue.
          this.abandon(batch, outcomes, error, started);
          return;
        }
        try {
          if (!opened) throw error;
          s.rollbackTo.run();
          s.release.run();
        } catch (undoError) {
          this.abandon(batch, outcomes, undoError, started);
          return;
        }
      }
    }
    try {
      s.commit.run();
    } catch (error) {
      if (db.isTransaction) {
        try {
          s.rollback.run();
        } catch {
          // The connection is unusable; the next BEGIN will report it.
        }
      }
      batch.forEach((p, i) => {
        const o = outcomes[i] as Outcome;
        p.reject(o.ok ? error : o.error);
      });
      this.report(batch.length, batch.length, started, false);
      return;
    }
    this.report(batch.length, failed, started, true);
    batch.forEach((p, i) => {
      const o = outcomes[i] as Outcome;
      if (o.ok) p.resolve(o.value);
      else p.reject(o.error);
    });
  }

  /** The transaction is gone: reject what ran (its effects were rolled back), requeue the rest. */
  private abandon(batch: Pending[], outcomes: Outcome[], error: unknown, started: number): void {
    if (this.db.isTransaction) {
      try {
        this.s.rollback.run();
      } catch {
        // As above.
      }
    }
    const ran = outcomes.length;
    batch.slice(0, ran).forEach((p, i) => {
      const o = outcomes[i] as Outcome;
      p.reject(o.ok ? error : o.error);
    });
    this.queue.unshift(...batch.slice(ran));
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    this.report(ran, ran, started, false);
  }

  private report(operations: number, failed: number, started: number, committed: boolean): void {
    if (!this.onCommit) return;
    try {
      this.onCommit({ operations, failed, durationMs: performance.now() - started, committed });
    } catch {
      // A metrics hook must not break storage.
    }
  }
}
