/**
 * Signed-request nonces and send marks in PostgreSQL (docs/API.md §2a, §5a; migrations/004). Each
 * write is one transaction that first locks the device row (`FOR KEY SHARE`: a revocation waits,
 * and the signing key cannot change under us), then checks that the device still has the signing
 * key the caller verified against. Send marks lock their own row `FOR UPDATE`, so concurrent
 * raises for one device take turns and the compare-and-raise holds across relay instances.
 *
 * Both run on every signed send and every ack, so each is one statement, one round trip, in its
 * own (autocommit) transaction: the locks are the same and are held to the statement's end, which
 * is the transaction's (PostgreSQL 15 §13.3.2: row locks last until the transaction ends; §7.8.4:
 * every sub-statement of a WITH sees the same snapshot and runs to completion). Before, a nonce
 * took 4 round trips (BEGIN, device lock, INSERT, COMMIT) and a raise 6; with PostgreSQL round
 * trips the relay's main cost per message, that was ~45 % of its statements (docs/BENCHMARKS.md,
 * "Relay CPU per message"). Only a raise racing another device's first mark falls back to the
 * transaction below (see RAISE_SQL).
 */
import type pg from 'pg';
import type { PgQueries } from '../../blobs/postgres-blob-store.js';
import type { RaiseSendMarkResult, RequestNonceRepository, SendMarkRecord, SendMarkRepository, UseNonceResult } from '../types.js';

type Db = pg.ClientBase;

/** What these repositories need of the storage's connection pool (postgres-storage.ts). */
export interface PgGuardDb extends PgQueries {
  write<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[], idempotent?: boolean): Promise<pg.QueryResult<R>>;
}

/**
 * Records a nonce if the device is listed with this signing key (its row locked `FOR KEY SHARE`
 * until the statement, i.e. the transaction, ends). The parameters in the INSERT's select list
 * are cast: they appear nowhere else that would give them a type.
 */
const USE_NONCE_SQL = `
WITH ok AS MATERIALIZED (
  SELECT 1 FROM devices WHERE user_name = $1::text AND device_id = $2::bigint AND signing_key = $5::bytea FOR KEY SHARE
), ins AS (
  INSERT INTO request_nonces (user_name, device_id, nonce, expires_at)
  SELECT $1, $2, $3::bytea, $4::bigint FROM ok
  ON CONFLICT DO NOTHING RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM ok) AS known, EXISTS (SELECT 1 FROM ins) AS recorded`;

/** Where a statement built on markCtes takes each input: its parameter references (`$1`...), constants of this code, never values. */
export interface MarkParams {
  readonly user: string;
  readonly device: string;
  readonly mark: string;
  readonly signature: string;
  readonly digest: string;
  readonly signingKey: string;
}

/**
 * RAISE_SQL's common table expressions, with the statement's parameter references (`$n`) for
 * each input: `ok`, `held`, `ins`, `raised`. Also the first half of the mailboxes' ENQUEUE_MARKED
 * statement (postgres-storage.ts), which stores a send only once these accepted its mark.
 */
export const markCtes = (p: MarkParams) => `ok AS MATERIALIZED (
  SELECT 1 FROM devices WHERE user_name = ${p.user}::text AND device_id = ${p.device}::bigint AND signing_key = ${p.signingKey}::bytea FOR KEY SHARE
), held AS MATERIALIZED (
  SELECT mark, signature, digest FROM send_marks
   WHERE user_name = ${p.user} AND device_id = ${p.device} AND EXISTS (SELECT 1 FROM ok) FOR UPDATE
), ins AS (
  INSERT INTO send_marks (user_name, device_id, mark, signature, digest)
  SELECT ${p.user}, ${p.device}, ${p.mark}::bigint, ${p.signature}::bytea, ${p.digest}::bytea FROM ok WHERE NOT EXISTS (SELECT 1 FROM held)
  ON CONFLICT DO NOTHING RETURNING 1
), raised AS (
  UPDATE send_marks SET mark = ${p.mark}, signature = ${p.signature}, digest = ${p.digest}
   WHERE user_name = ${p.user} AND device_id = ${p.device} AND mark < ${p.mark} AND EXISTS (SELECT 1 FROM held WHERE mark < ${p.mark})
  RETURNING 1
)`;

/**
 * The compare-and-raise of a send mark in one statement. `held` locks the device's mark row
 * `FOR UPDATE` (read committed: the newest committed version, waiting for a concurrent raise —
 * §13.2.1), then either a first mark is inserted (no row held) or the held one is raised if ours
 * is higher. The result carries the row as held, from which the caller tells 'repeated' from
 * 'stale'. One case is left undecided: no row was visible, yet the insert found one (another
 * raise's first mark committed after this statement's snapshot): `mark` comes back null and
 * nothing was written, and the caller runs the transaction, which sees that row.
 */
const RAISE_SQL = `
WITH ${markCtes({ user: '$1', device: '$2', mark: '$3', signature: '$4', digest: '$5', signingKey: '$6' })}
SELECT EXISTS (SELECT 1 FROM ok) AS known, (EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM raised)) AS raised,
       h.mark, h.signature, h.digest
  FROM (SELECT 1) AS one LEFT JOIN held AS h ON true`;

/** What a statement built on markCtes answers about the mark: the device known, the mark written, the row held before. */
export type RaiseRow = { known: boolean; raised: boolean; mark: string | null; signature: Buffer | null; digest: Buffer | null };
type MarkRow = { mark: string; signature: Buffer; digest: Buffer };

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const toRecord = (r: MarkRow): SendMarkRecord => ({ mark: Number(r.mark), signature: u8(r.signature), digest: u8(r.digest) });

/**
 * The verdict on `record` from a markCtes statement's answer; undefined when it is undecided (no
 * row was visible, yet the insert found one: another raise's first mark committed after the
 * statement's snapshot), and nothing was written: then the caller runs raiseInTransaction.
 */
export function markVerdict(row: RaiseRow, record: SendMarkRecord): RaiseSendMarkResult | undefined {
  if (!row.known) return { status: 'unknown_device' };
  if (row.raised) return { status: 'raised' };
  if (row.mark === null || !row.signature || !row.digest) return undefined;
  const current = toRecord({ mark: row.mark, signature: row.signature, digest: row.digest });
  if (record.mark < current.mark) return { status: 'stale', current };
  if (record.mark === current.mark) return sameBytes(current.digest, record.digest) ? { status: 'repeated' } : { status: 'stale', current };
  return undefined;
}

/** True if the device is listed with this signing key; locks its row until the transaction ends. */
async function deviceHasKey(c: Db, user: string, deviceId: number, signingKey: Uint8Array): Promise<boolean> {
  const r = await c.query<{ signing_key: Buffer }>('SELECT signing_key FROM devices WHERE user_name = $1 AND device_id = $2 FOR KEY SHARE', [user, deviceId]);
  const key = r.rows[0]?.signing_key;
  return !!key && sameBytes(key, signingKey);
}

export class PostgresRequestNonces implements RequestNonceRepository {
  constructor(private readonly db: PgGuardDb) {}

  async use(user: string, deviceId: number, nonce: Uint8Array, expiresAt: number, signingKey: Uint8Array): Promise<UseNonceResult> {
    // Not idempotent: run twice, a recorded nonce would come back 'replayed'.
    const r = await this.db.write<{ known: boolean; recorded: boolean }>('guard_use_nonce', USE_NONCE_SQL, [user, deviceId, nonce, expiresAt, signingKey]);
    const row = r.rows[0] as { known: boolean; recorded: boolean };
    if (!row.known) return 'unknown_device';
    return row.recorded ? 'recorded' : 'replayed';
  }
}

export class PostgresSendMarks implements SendMarkRepository {
  constructor(private readonly db: PgGuardDb) {}

  async get(user: string, deviceId: number): Promise<SendMarkRecord | undefined> {
    const r = await this.db.query<MarkRow>('SELECT mark, signature, digest FROM send_marks WHERE user_name = $1 AND device_id = $2', [user, deviceId]);
    const row = r.rows[0];
    return row ? toRecord(row) : undefined;
  }

  async raise(user: string, deviceId: number, record: SendMarkRecord, signingKey: Uint8Array): Promise<RaiseSendMarkResult> {
    // Idempotent: run again after it landed, the same mark and digest come back 'repeated' (accepted).
    const r = await this.db.write<RaiseRow>('guard_raise_mark', RAISE_SQL, [user, deviceId, record.mark, record.signature, record.digest, signingKey], true);
    return markVerdict(r.rows[0] as RaiseRow, record) ?? this.raiseInTransaction(user, deviceId, record, signingKey);
  }

  /** The compare-and-raise over several statements, each seeing what committed before it: for RAISE_SQL's undecided case. */
  private raiseInTransaction(user: string, deviceId: number, record: SendMarkRecord, signingKey: Uint8Array): Promise<RaiseSendMarkResult> {
    return this.db.tx(async (c): Promise<RaiseSendMarkResult> => {
      if (!(await deviceHasKey(c, user, deviceId, signingKey))) return { status: 'unknown_device' };
      // A first mark: insert, or find the row a concurrent first raise inserted and compare with it.
      const inserted = await c.query(
        'INSERT INTO send_marks (user_name, device_id, mark, signature, digest) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
        [user, deviceId, record.mark, record.signature, record.digest],
      );
      if (inserted.rowCount === 1) return { status: 'raised' };
      const held = (
        await c.query<MarkRow>('SELECT mark, signature, digest FROM send_marks WHERE user_name = $1 AND device_id = $2 FOR UPDATE', [user, deviceId])
      ).rows[0] as MarkRow;
      const current = toRecord(held);
      if (record.mark < current.mark) return { status: 'stale', current };
      if (record.mark === current.mark) return sameBytes(current.digest, record.digest) ? { status: 'repeated' } : { status: 'stale', current };
      await c.query('UPDATE send_marks SET mark = $3, signature = $4, digest = $5 WHERE user_name = $1 AND device_id = $2', [
        user,
        deviceId,
        record.mark,
        record.signature,
        record.digest,
      ]);
      return { status: 'raised' };
    });
  }
}
