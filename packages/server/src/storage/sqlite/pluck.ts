/**
 * A statement read for its first column only (better-sqlite3 called this `.pluck()`): rows come
 * back from node:sqlite as arrays (`setReturnArrays`), and `get` / `all` return that column's
 * values. Prepared once, like every statement of the store.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

/** What a column holds (node:sqlite returns blobs as Uint8Array, integers as numbers). */
type Value = null | number | bigint | string | Uint8Array;

export class Pluck<T extends Value> {
  private readonly statement: StatementSync;

  constructor(db: DatabaseSync, sql: string) {
    this.statement = db.prepare(sql);
    this.statement.setReturnArrays(true);
  }

  /** The first column of the first row, or undefined when there is no row. */
  get(...params: SQLInputValue[]): T | undefined {
    const row = this.statement.get(...params) as unknown as T[] | undefined;
    return row?.[0];
  }

  /** The first column of every row. */
  all(...params: SQLInputValue[]): T[] {
    return (this.statement.all(...params) as unknown as T[][]).map((row) => row[0] as T);
  }
}
