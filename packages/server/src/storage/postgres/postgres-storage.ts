/**
 * The cluster storage: PostgreSQL through a `pg` connection pool. Several relay instances may
 * share one database; every guarantee of src/storage/types.ts holds across connections and
 * instances, not just within one process.
 *
 * Each write method is one transaction (READ COMMITTED) on one pooled connection; the hot ones
 * (enqueue, ack) are a single statement each — one round trip, no BEGIN/COMMIT — and the hot reads
 * are named prepared statements (docs/DECISIONS.md, "PostgreSQL: one statement per send and per
 * ack, no group commit"). Where the
 * SQLite store relies on its single writer, this one takes row locks up front, always in the same
 * order (account, then devices, then per-device rows) so writers queue instead of deadlocking:
 * - device-list replacement locks the account row (`FOR UPDATE`): the version compare-and-set.
 * - enqueue locks the account row `FOR SHARE` (the list cannot change until it commits), then
 *   the recipient devices' `queue_sizes` rows `FOR UPDATE` in device order: the cap holds, and
 *   messages to one device commit in `seq` order (the push high-water mark never skips one).
 * - prekey uploads, challenge and token creation lock the device row (`FOR NO KEY UPDATE`): the
 *   stored-key cap and the per-device caps hold, and a concurrent revocation waits for them.
 * - claims lock the device row `FOR KEY SHARE` (revocation waits) and take each one-time prekey
 *   with `DELETE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING …`: two
 *   concurrent claims never receive the same key, and neither waits on the other.
 * - challenge and envelope consumption are single `DELETE … RETURNING` / `UPDATE … RETURNING`
 *   statements, so exactly one caller gets each.
 * A transaction that still hits a deadlock or serialization failure is retried (twice at most).
 * A lost connection (PostgreSQL restarted, a backend terminated, the network dropped) is retried
 * once on a fresh one where that is safe: a transaction that failed before its COMMIT was sent, a
 * failed connect, a SELECT, a single-statement write that never left node-postgres or that is
 * idempotent (ack). Otherwise — the COMMIT (or the single statement) may have landed — it
 * surfaces as StorageUnavailableError (the API's 503 with Retry-After; clients repeat the request).
 *
 * Reads that need one snapshot are single statements. BYTEA comes back as Buffer and BIGINT as a
 * string; both are converted here, so nothing above sees a Buffer. Only SHA-256 hashes of tokens,
 * challenges and channel ids are stored (the interface only ever receives the hashes).
 */
import pg from 'pg';
import { PostgresBlobStore } from '../../blobs/postgres-blob-store.js';
import type { BlobStore } from '../../blobs/types.js';
import { StorageUnavailableError } from '../errors.js';
import { pruneFiles } from '../files-prune.js';
import type { GroupRepository } from '../groups-types.js';
import type { RecordRepository } from '../records-types.js';
import type {
  AccountDeletionRequest,
  AccountDeletionResult,
  AccountRecord,
  AccountRepository,
  AuthRepository,
  BackupRepository,
  ClaimOptions,
  ClaimResult,
  DeviceListUpdate,
  DeviceListUpdateResult,
  DeviceRecord,
  Enqueue,
  EnqueueResult,
  FileRepository,
  MailboxRepository,
  MarkedEnqueueResult,
  NewAccount,
  PrekeyBatch,
  PrekeyLimits,
  PrekeyRepository,
  PrekeyStatus,
  PrekeyUploadResult,
  ProvisioningRepository,
  PutEnvelopeResult,
  RateLimitRepository,
  RequestNonceRepository,
  SealedRepository,
  SendMarkRecord,
  SendMarkRepository,
  SignedNonce,
  Storage,
  StoredMessage,
  TakeEnvelopeResult,
  TokenRecord,
  UseNonceResult,
} from '../types.js';
import { migratePostgres } from './migrate.js';
import { deleteAccount } from './postgres-account-deletion.js';
import { PostgresBackups } from './postgres-backups.js';
import { PostgresFiles } from './postgres-files.js';
import { PostgresGroups } from './postgres-groups.js';
import { PgRateLimits, PRUNE_RATE_BUCKETS_SQL } from './postgres-rate-limits.js';
import { PostgresRecords } from './postgres-records.js';
import { markCtes, markVerdict, PostgresRequestNonces, PostgresSendMarks, type RaiseRow } from './postgres-request-guards.js';
import { PostgresSealed } from './postgres-sealed.js';

export interface PostgresStorageOptions {
  /** `postgres://user@host:port/database` (anything node-postgres accepts). */
  readonly connectionString: string;
  /**
   * Schema holding every table (the connections' search_path); created if absent. Default: the
   * server's default search_path (normally `public`). Lower-case letters, digits and `_`.
   */
  readonly schema?: string;
  readonly now: () => number;
  /** Pooled connections; default 10. */
  readonly maxConnections?: number;
  /** An idle pooled connection failed (the pool replaces it); default: ignored. */
  readonly onError?: (err: Error) => void;
}

export const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Takes every provisioning-channel count-then-insert in turn ("blindrelay provisioning"). */
const PROVISIONING_LOCK = 0x626c_6970_726f_7669n.toString();

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected
const MAX_ATTEMPTS = 3;

/**
 * The connection is gone: SQLSTATE class 08 (connection exception), 57P01-57P03 (admin/crash
 * shutdown, cannot connect now), a socket error, or node-postgres's own "terminated" / "not
 * queryable" errors (no SQLSTATE).
 */
const LOST_CODES = new Set(['57P01', '57P02', '57P03', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
function connectionLost(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (code.startsWith('08') || LOST_CODES.has(code))) return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|not queryable|timeout exceeded when trying to connect/i.test(message);
}

/** node-postgres refused the query without sending it: the connection was already unusable. */
function neverSent(err: unknown): boolean {
  return err instanceof Error && /not queryable/i.test(err.message);
}

/**
 * Errors seen on each pooled connection. pg-pool listens for `error` only while a connection is
 * idle; one checked out (or just connected, before our code resumes) whose backend is terminated
 * emits `error` with no listener — an uncaught exception that would end the process. So every
 * connection gets a listener for life (from the pool's `connect` event, before it is handed out),
 * and a connection that saw an error is released as broken (the pool drops it).
 */
const clientErrors = new WeakMap<pg.ClientBase, Error>();
function watchClient(client: pg.ClientBase): void {
  client.on('error', (err) => {
    if (!clientErrors.has(client)) clientErrors.set(client, err);
  });
}

type Db = pg.ClientBase;
type DeviceRow = { device_id: string; signing_key: Buffer; identity_key: Buffer };
type KeyRow = { key_id: string; public_key: Buffer; signature: Buffer };

const u8 = (b: Uint8Array): Uint8Array => new Uint8Array(b);
const num = (v: string | number): number => Number(v);
const toDevice = (r: DeviceRow): DeviceRecord => ({ deviceId: num(r.device_id), signingKey: u8(r.signing_key), identityKey: u8(r.identity_key) });
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const sameKeys = (a: DeviceRecord, b: DeviceRecord) => same(a.signingKey, b.signingKey) && same(a.identityKey, b.identityKey);

export async function openPostgresStorage(options: PostgresStorageOptions): Promise<Storage> {
  if (options.schema !== undefined && !SCHEMA_PATTERN.test(options.schema)) {
    throw new Error('PostgreSQL schema name must be 1-63 lower-case letters, digits or _, not starting with a digit');
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    // Names the relays' sessions in pg_stat_activity unless the URL or PGAPPNAME sets application_name.
    fallback_application_name: 'blindrelay',
    max: options.maxConnections ?? 10,
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
  });
  pool.on('error', (err) => options.onError?.(err));
  pool.on('connect', watchClient);
  try {
    const client = await pool.connect();
    try {
      await migratePostgres(client, options.now(), options.schema);
    } finally {
      client.release();
    }
    return new PostgresStorage(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
}

class PostgresStorage implements Storage {
  readonly accounts: AccountRepository;
  readonly prekeys: PrekeyRepository;
  readonly mailboxes: MailboxRepository;
  readonly auth: AuthRepository;
  readonly provisioning: ProvisioningRepository;
  readonly files: FileRepository;
  readonly records: RecordRepository;
  readonly groups: GroupRepository;
  readonly requestNonces: RequestNonceRepository;
  readonly sealed: SealedRepository;
  readonly sendMarks: SendMarkRepository;
  readonly rateLimits: RateLimitRepository;
  readonly backups: BackupRepository;
  readonly blobs: BlobStore;
  private closing: Promise<void> | undefined;
  private readonly db: Pool;

  constructor(pool: pg.Pool) {
    this.db = new Pool(pool);
    const prekeys = new PgPrekeys(this.db);
    this.accounts = new PgAccounts(this.db, prekeys);
    this.prekeys = prekeys;
    const sendMarks = new PostgresSendMarks(this.db);
    this.sendMarks = sendMarks;
    this.mailboxes = new PgMailboxes(this.db, sendMarks);
    this.auth = new PgAuth(this.db);
    this.provisioning = new PgProvisioning(this.db);
    this.files = new PostgresFiles(this.db);
    this.records = new PostgresRecords(this.db);
    this.groups = new PostgresGroups(this.db);
    this.requestNonces = new PostgresRequestNonces(this.db);
    this.sealed = new PostgresSealed(this.db);
    this.rateLimits = new PgRateLimits(this.db);
    this.backups = new PostgresBackups(this.db);
    this.blobs = new PostgresBlobStore(this.db);
  }

  async pruneExpired(now: number): Promise<void> {
    await this.db.tx(async (c) => {
      await c.query('DELETE FROM auth_challenges WHERE expires_at <= $1', [now]);
      await c.query('DELETE FROM auth_tokens WHERE expires_at <= $1', [now]);
      await c.query('DELETE FROM provisioning_channels WHERE expires_at <= $1', [now]);
      await c.query('DELETE FROM request_nonces WHERE expires_at <= $1', [now]);
      await c.query('DELETE FROM backup_logins WHERE expires_at <= $1', [now]);
      await c.query('DELETE FROM delivery_tokens WHERE expires_at <= $1', [now]);
      await c.query('DELETE FROM sealed_digests WHERE expires_at <= $1', [now]);
      await c.query(PRUNE_RATE_BUCKETS_SQL, [now]);
    });
    // Chunks cascade with their version's metadata: no orphan blobs to sweep.
    await pruneFiles(this.files, this.blobs, now, { sweepOrphans: false });
  }

  close(): Promise<void> {
    // Pool.end waits for checked-out connections (in-flight transactions) to be released.
    this.db.closed = true;
    this.closing ??= this.db.pool.end();
    return this.closing;
  }
}

/** The pool, plus transactions with retry, and a refusal once closed. */
class Pool {
  closed = false;
  constructor(readonly pool: pg.Pool) {}

  private check(): void {
    if (this.closed) throw new Error('storage is closed');
  }

  /** A pooled connection (a failed connect is tried once more) and its release (as broken if it saw an error: watchClient). */
  private async checkout(): Promise<{ c: pg.PoolClient; release: (err?: Error) => void }> {
    for (let attempt = 1; ; attempt++) {
      let c: pg.PoolClient;
      try {
        c = await this.pool.connect();
      } catch (err) {
        if (!connectionLost(err)) throw err;
        if (attempt >= 2) throw new StorageUnavailableError({ cause: err });
        continue;
      }
      const client = c;
      return { c: client, release: (err) => client.release(err ?? clientErrors.get(client)) };
    }
  }

  /**
   * One statement outside a transaction; a SELECT whose connection was lost runs once more.
   * `name` makes it a named prepared statement (parsed and planned once per connection): for the
   * hot paths only.
   */
  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], name?: string): Promise<pg.QueryResult<R>> {
    this.check();
    const readOnly = /^\s*SELECT\b/i.test(text);
    for (let attempt = 1; ; attempt++) {
      const { c, release } = await this.checkout();
      try {
        const r = await c.query<R>(name ? { name, text, values } : { text, values });
        release();
        return r;
      } catch (err) {
        const lost = connectionLost(err);
        release(lost ? (err as Error) : undefined);
        if (!lost) throw err;
        // A write may have committed before the connection went: only the caller can repeat it.
        if (!readOnly || attempt >= 2) throw new StorageUnavailableError({ cause: err });
      }
    }
  }

  /**
   * One writing statement as its own transaction (autocommit: one round trip, no BEGIN/COMMIT),
   * with the retries of tx(): a deadlock or serialization failure runs it again (twice at most);
   * a lost connection runs it once more on a fresh one if the statement certainly never reached
   * the server (the connection was already unusable), or if `idempotent` (running it twice has
   * the effect of running it once). Otherwise the commit may have landed: StorageUnavailableError.
   */
  async write<R extends pg.QueryResultRow>(name: string, text: string, values: unknown[], idempotent = false): Promise<pg.QueryResult<R>> {
    this.check();
    let reconnected = false;
    for (let attempt = 1; ; attempt++) {
      const { c, release } = await this.checkout();
      try {
        const r = await c.query<R>({ name, text, values });
        release();
        return r;
      } catch (err) {
        const lost = connectionLost(err);
        release(lost ? (err as Error) : undefined);
        if (lost) {
          if (reconnected || !(idempotent || neverSent(err))) throw new StorageUnavailableError({ cause: err });
          reconnected = true;
          continue;
        }
        const code = (err as { code?: unknown }).code;
        if (attempt < MAX_ATTEMPTS && typeof code === 'string' && RETRYABLE.has(code)) continue;
        throw err;
      }
    }
  }

  async tx<T>(f: (c: Db) => Promise<T>): Promise<T> {
    this.check();
    let reconnected = false;
    for (let attempt = 1; ; attempt++) {
      const { c, release } = await this.checkout();
      let broken: Error | undefined;
      let committing = false;
      try {
        await c.query('BEGIN');
        const result = await f(c);
        committing = true;
        await c.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await c.query('ROLLBACK');
        } catch (e) {
          broken = e as Error;
        }
        if (connectionLost(err)) {
          broken ??= err as Error;
          // Before COMMIT went out the server rolled it back; after, it may have landed.
          if (committing || reconnected) throw new StorageUnavailableError({ cause: err });
          reconnected = true;
          continue;
        }
        const code = (err as { code?: unknown }).code;
        if (attempt < MAX_ATTEMPTS && typeof code === 'string' && RETRYABLE.has(code)) continue;
        throw err;
      } finally {
        release(broken);
      }
    }
  }
}

class PgPrekeys implements PrekeyRepository {
  constructor(private readonly db: Pool) {}

  /**
   * Checks then writes, inside the caller's transaction; nothing is written unless the result is
   * 'stored'. Locks the device row, so concurrent uploads for one device take turns.
   */
  async write(c: Db, user: string, deviceId: number, batch: PrekeyBatch, limits: PrekeyLimits, signingKey?: Uint8Array): Promise<PrekeyUploadResult> {
    const dev = await c.query<{ signing_key: Buffer }>('SELECT signing_key FROM devices WHERE user_name = $1 AND device_id = $2 FOR NO KEY UPDATE', [
      user,
      deviceId,
    ]);
    const row = dev.rows[0];
    if (!row || (signingKey && !same(row.signing_key, signingKey))) return { status: 'unknown_device' };
    const otks = batch.oneTimePreKeys ?? [];
    const pqs = batch.pqPreKeys ?? [];
    if (otks.length > 0 || pqs.length > 0) {
      const counts = (
        await c.query<{ otk: string; pq: string; dup: boolean }>(
          `SELECT (SELECT count(*) FROM one_time_prekeys WHERE user_name = $1 AND device_id = $2) AS otk,
                  (SELECT count(*) FROM pq_prekeys WHERE user_name = $1 AND device_id = $2) AS pq,
                  EXISTS (SELECT 1 FROM one_time_prekeys WHERE user_name = $1 AND device_id = $2 AND key_id = ANY($3::bigint[]))
                   OR EXISTS (SELECT 1 FROM pq_prekeys WHERE user_name = $1 AND device_id = $2 AND key_id = ANY($4::bigint[])) AS dup`,
          [user, deviceId, otks.map((k) => k.id), pqs.map((k) => k.id)],
        )
      ).rows[0] as { otk: string; pq: string; dup: boolean };
      if (otks.length > 0 && num(counts.otk) + otks.length > limits.maxStoredOneTime) return { status: 'too_many' };
      if (pqs.length > 0 && num(counts.pq) + pqs.length > limits.maxStoredOneTime) return { status: 'too_many' };
      if (counts.dup) return { status: 'duplicate_id' };
    }
    if (batch.signedPreKey) {
      const k = batch.signedPreKey;
      await c.query(
        `INSERT INTO signed_prekeys (user_name, device_id, key_id, public_key, signature) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_name, device_id) DO UPDATE SET key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
        [user, deviceId, k.id, k.publicKey, k.signature],
      );
    }
    if (batch.lastResortPqPreKey) {
      const k = batch.lastResortPqPreKey;
      await c.query(
        `INSERT INTO pq_last_resort_prekeys (user_name, device_id, key_id, public_key, signature) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_name, device_id) DO UPDATE SET key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
        [user, deviceId, k.id, k.publicKey, k.signature],
      );
    }
    // One statement per kind; WITH ORDINALITY keeps the batch order, which is the hand-out order.
    if (otks.length > 0) {
      await c.query(
        `INSERT INTO one_time_prekeys (user_name, device_id, key_id, public_key)
         SELECT $1, $2, k, p FROM unnest($3::bigint[], $4::bytea[]) WITH ORDINALITY AS t(k, p, n) ORDER BY n`,
        [user, deviceId, otks.map((k) => k.id), otks.map((k) => k.publicKey)],
      );
    }
    if (pqs.length > 0) {
      await c.query(
        `INSERT INTO pq_prekeys (user_name, device_id, key_id, public_key, signature)
         SELECT $1, $2, k, p, s FROM unnest($3::bigint[], $4::bytea[], $5::bytea[]) WITH ORDINALITY AS t(k, p, s, n) ORDER BY n`,
        [user, deviceId, pqs.map((k) => k.id), pqs.map((k) => k.publicKey), pqs.map((k) => k.signature)],
      );
    }
    return { status: 'stored' };
  }

  async upload(user: string, deviceId: number, batch: PrekeyBatch, limits: PrekeyLimits, signingKey?: Uint8Array): Promise<PrekeyUploadResult> {
    return this.db.tx((c) => this.write(c, user, deviceId, batch, limits, signingKey));
  }

  async status(user: string, deviceId: number): Promise<PrekeyStatus> {
    const r = await this.db.query<{ otk: string; pq: string; spk: string | null; lr: string | null }>(
      `SELECT (SELECT count(*) FROM one_time_prekeys WHERE user_name = $1 AND device_id = $2) AS otk,
              (SELECT count(*) FROM pq_prekeys WHERE user_name = $1 AND device_id = $2) AS pq,
              (SELECT key_id FROM signed_prekeys WHERE user_name = $1 AND device_id = $2) AS spk,
              (SELECT key_id FROM pq_last_resort_prekeys WHERE user_name = $1 AND device_id = $2) AS lr`,
      [user, deviceId],
    );
    const row = r.rows[0] as { otk: string; pq: string; spk: string | null; lr: string | null };
    return {
      oneTimePreKeys: num(row.otk),
      pqPreKeys: num(row.pq),
      signedPreKeyId: row.spk === null ? null : num(row.spk),
      lastResortPqPreKeyId: row.lr === null ? null : num(row.lr),
    };
  }

  async claim(user: string, deviceIds: readonly number[], options: ClaimOptions = {}): Promise<ClaimResult[]> {
    return this.db.tx(async (c) => {
      const out: ClaimResult[] = [];
      for (const deviceId of deviceIds) out.push(await this.claimOne(c, user, deviceId, options.withoutOneTime?.has(deviceId) ?? false));
      return out;
    });
  }

  private async claimOne(c: Db, user: string, deviceId: number, spare: boolean): Promise<ClaimResult> {
    const args = [user, deviceId];
    // KEY SHARE: a concurrent revocation (DELETE) waits for this claim; other claims do not.
    const device = (
      await c.query<DeviceRow>('SELECT device_id, signing_key, identity_key FROM devices WHERE user_name = $1 AND device_id = $2 FOR KEY SHARE', args)
    ).rows[0];
    if (!device) return { status: 'unavailable', deviceId };
    const spk = (await c.query<KeyRow>('SELECT key_id, public_key, signature FROM signed_prekeys WHERE user_name = $1 AND device_id = $2', args)).rows[0];
    if (!spk) return { status: 'unavailable', deviceId };
    const lastResortKey = async () =>
      (await c.query<KeyRow>('SELECT key_id, public_key, signature FROM pq_last_resort_prekeys WHERE user_name = $1 AND device_id = $2', args)).rows[0];
    // A device whose one-time budget is spent gets its last-resort key (a one-time one only if it has none).
    const spared = spare ? await lastResortKey() : undefined;
    // Check availability before consuming anything: an unavailable device loses no key.
    const oneTimePq = spared
      ? undefined
      : (
          await c.query<KeyRow>(
            `DELETE FROM pq_prekeys WHERE id =
           (SELECT id FROM pq_prekeys WHERE user_name = $1 AND device_id = $2 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING key_id, public_key, signature`,
            args,
          )
        ).rows[0];
    const pq = spared ?? oneTimePq ?? (await lastResortKey());
    if (!pq) return { status: 'unavailable', deviceId };
    const otk = spare
      ? undefined
      : (
          await c.query<{ key_id: string; public_key: Buffer }>(
            `DELETE FROM one_time_prekeys WHERE id =
           (SELECT id FROM one_time_prekeys WHERE user_name = $1 AND device_id = $2 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING key_id, public_key`,
            args,
          )
        ).rows[0];
    const left = (
      await c.query<{ otk: string; pq: string }>(
        `SELECT (SELECT count(*) FROM one_time_prekeys WHERE user_name = $1 AND device_id = $2) AS otk,
                (SELECT count(*) FROM pq_prekeys WHERE user_name = $1 AND device_id = $2) AS pq`,
        args,
      )
    ).rows[0] as { otk: string; pq: string };
    const base = {
      status: 'claimed' as const,
      device: toDevice(device),
      signedPreKey: { id: num(spk.key_id), publicKey: u8(spk.public_key), signature: u8(spk.signature) },
      pqPreKey: { id: num(pq.key_id), publicKey: u8(pq.public_key), signature: u8(pq.signature), lastResort: !oneTimePq },
      remaining: { oneTimePreKeys: num(left.otk), pqPreKeys: num(left.pq) },
    };
    return otk ? { ...base, oneTimePreKey: { id: num(otk.key_id), publicKey: u8(otk.public_key) } } : base;
  }
}

class PgAccounts implements AccountRepository {
  constructor(
    private readonly db: Pool,
    private readonly prekeys: PgPrekeys,
  ) {}

  async create(a: NewAccount, limits: PrekeyLimits): Promise<'created' | 'exists'> {
    return this.db.tx(async (c) => {
      // A concurrent creation of the same name waits on the unique index, then does nothing.
      const inserted = await c.query(
        `INSERT INTO accounts (user_name, master_key, list_version, device_list, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (user_name) DO NOTHING`,
        [a.user, a.masterKey, a.listVersion, a.deviceList, a.createdAt],
      );
      if (inserted.rowCount === 0) return 'exists' as const;
      await c.query('INSERT INTO devices (user_name, device_id, signing_key, identity_key) VALUES ($1, $2, $3, $4)', [
        a.user,
        a.device.deviceId,
        a.device.signingKey,
        a.device.identityKey,
      ]);
      const r = await this.prekeys.write(c, a.user, a.device.deviceId, a.prekeys, limits);
      if (r.status !== 'stored') throw new Error(`account creation: prekeys not stored (${r.status})`);
      return 'created' as const;
    });
  }

  async get(user: string): Promise<AccountRecord | undefined> {
    // One statement, one snapshot: the account and its devices agree.
    const r = await this.db.query<{
      master_key: Buffer;
      list_version: string;
      device_list: Buffer;
      rotation: Buffer | null;
      device_id: string | null;
      signing_key: Buffer | null;
      identity_key: Buffer | null;
    }>(
      `SELECT a.master_key, a.list_version, a.device_list, a.rotation, d.device_id, d.signing_key, d.identity_key
         FROM accounts a LEFT JOIN devices d ON d.user_name = a.user_name
        WHERE a.user_name = $1 ORDER BY d.device_id`,
      [user],
      'get_account',
    );
    const first = r.rows[0];
    if (!first) return undefined;
    const devices = r.rows.filter((row) => row.device_id !== null).map((row) => toDevice(row as DeviceRow));
    const base = { user, masterKey: u8(first.master_key), listVersion: num(first.list_version), deviceList: u8(first.device_list), devices };
    return first.rotation ? { ...base, rotation: u8(first.rotation) } : base;
  }

  async getDevice(user: string, deviceId: number): Promise<DeviceRecord | undefined> {
    const r = await this.db.query<DeviceRow>('SELECT device_id, signing_key, identity_key FROM devices WHERE user_name = $1 AND device_id = $2', [
      user,
      deviceId,
    ]);
    const row = r.rows[0];
    return row ? toDevice(row) : undefined;
  }

  delete(request: AccountDeletionRequest): Promise<AccountDeletionResult> {
    return deleteAccount(this.db, request);
  }

  async replaceDeviceList(u: DeviceListUpdate, limits: PrekeyLimits): Promise<DeviceListUpdateResult> {
    return this.db.tx(async (c): Promise<DeviceListUpdateResult> => {
      const v = (await c.query<{ list_version: string }>('SELECT list_version FROM accounts WHERE user_name = $1 FOR UPDATE', [u.user])).rows[0];
      if (!v) return { status: 'not_found' };
      if (num(v.list_version) !== u.expectedVersion) return { status: 'stale' };
      const stored = (
        await c.query<DeviceRow>('SELECT device_id, signing_key, identity_key FROM devices WHERE user_name = $1 ORDER BY device_id', [u.user])
      ).rows.map(toDevice);
      const next = new Map(u.devices.map((d) => [d.deviceId, d]));
      const revoked: number[] = [];
      for (const d of stored) {
        const n = next.get(d.deviceId);
        if (n && sameKeys(n, d)) next.delete(d.deviceId);
        else revoked.push(d.deviceId); // absent, or the same id with new keys
      }
      // The cascade deletes the revoked devices' tokens, challenges, prekeys, queue and counter.
      if (revoked.length > 0) await c.query('DELETE FROM devices WHERE user_name = $1 AND device_id = ANY($2::bigint[])', [u.user, revoked]);
      for (const d of next.values()) {
        await c.query('INSERT INTO devices (user_name, device_id, signing_key, identity_key) VALUES ($1, $2, $3, $4)', [
          u.user,
          d.deviceId,
          d.signingKey,
          d.identityKey,
        ]);
      }
      await c.query('UPDATE accounts SET list_version = $1, device_list = $2, updated_at = $3 WHERE user_name = $4', [
        u.listVersion,
        u.deviceList,
        u.updatedAt,
        u.user,
      ]);
      if (u.rotation) {
        await c.query('UPDATE accounts SET master_key = $1, rotation = $2 WHERE user_name = $3', [u.rotation.masterKey, u.rotation.statement, u.user]);
      }
      if (u.newDevice) {
        if (!next.has(u.newDevice.deviceId)) throw new Error('device-list update: newDevice is not a device added by this list');
        const r = await this.prekeys.write(c, u.user, u.newDevice.deviceId, u.newDevice.prekeys, limits);
        if (r.status !== 'stored') throw new Error(`device-list update: prekeys not stored (${r.status})`);
      }
      return { status: 'updated', revoked };
    });
  }
}

/**
 * An enqueue in one statement (so one transaction, one round trip), taking the locks of the
 * multi-statement version in the same order:
 * 1. `acct`: the recipient's account row FOR SHARE (replaceDeviceList, FOR UPDATE, waits for us;
 *    if it committed first, READ COMMITTED re-reads the row and we see the new version);
 * 2. `locked`: the recipient devices' `queue_sizes` rows FOR UPDATE in device order, only if the
 *    version matched. A row changed by a concurrent enqueue or ack is re-read once its lock is
 *    ours, so `queued` is current;
 * 3. `verdict`: version matches, every device has its row, and no queue is at the cap;
 * 4. `stored` and `upd` write only if so. Both read `verdict` (an InitPlan evaluated before their
 *    first row), so the locks are held before any message gets its seq: messages to one device
 *    commit in seq order, as the push high-water mark requires.
 * It returns the version and each locked row's size before the update; the caller derives the
 * same verdict from them (stale_list, queue_full, or rows missing: enqueueCreating).
 * $1 to, $2 distinct device ids (sorted), $3 expected version, $4 cap, $5 from user,
 * $6 from device, $7 sent at, $8 ids, $9 device per message, $10 bodies, $11 count per $2 device.
 */
const enqueueCtes = (gate: string) => `acct AS MATERIALIZED (
    SELECT list_version FROM accounts WHERE user_name = $1 FOR SHARE
  ), locked AS MATERIALIZED (
    SELECT device_id, queued FROM queue_sizes
     WHERE ${gate} AND user_name = $1 AND device_id = ANY($2::bigint[]) AND EXISTS (SELECT 1 FROM acct WHERE list_version = $3)
     ORDER BY device_id FOR UPDATE
  ), verdict AS MATERIALIZED (
    SELECT ${gate} AND EXISTS (SELECT 1 FROM acct WHERE list_version = $3)
       AND (SELECT count(*) FROM locked) = cardinality($2::bigint[])
       AND NOT EXISTS (SELECT 1 FROM locked WHERE queued >= $4) AS ok
  ), stored AS (
    INSERT INTO messages (id, user_name, device_id, from_user, from_device, body, sent_at)
    SELECT i, $1, d, $5, $6, b, $7 FROM unnest($8::bytea[], $9::bigint[], $10::bytea[]) WITH ORDINALITY AS t(i, d, b, n)
     WHERE (SELECT ok FROM verdict) ORDER BY n
  ), upd AS (
    UPDATE queue_sizes s SET queued = s.queued + t.n FROM unnest($2::bigint[], $11::bigint[]) AS t(d, n)
     WHERE (SELECT ok FROM verdict) AND s.user_name = $1 AND s.device_id = t.d
  )`;

const ENQUEUE_SQL = `WITH ${enqueueCtes('true')}
  SELECT a.list_version, l.device_id, l.queued FROM acct a LEFT JOIN locked l ON true`;

/**
 * A send under a send mark in one statement (MailboxRepository.enqueueMarked): RAISE_SQL's
 * compare-and-raise for the sending device ($5, $6; postgres-request-guards.ts markCtes), then
 * ENQUEUE_SQL gated on its verdict (`accepted`: the mark raised, or the same mark and digest again).
 * Before, the raise and the enqueue were two statements, two round trips and two commits per send
 * (docs/BENCHMARKS.md, "Relay CPU per message"). Locks: the sender's device row (KEY SHARE) and mark
 * row (UPDATE) first, held to the end, then ENQUEUE_SQL's in its order; a deadlock with a
 * concurrent device-list change is retried as any (Pool.write). Every part sees one snapshot
 * (PostgreSQL 15 §7.8.4); the enqueue part reads `accepted`, so it runs after the mark's writes.
 * $1–$11 as ENQUEUE_SQL, $12 mark, $13 its signature, $14 the send's digest, $15 the signing key.
 */
const ENQUEUE_MARKED_SQL = `WITH ${markCtes({ user: '$5', device: '$6', mark: '$12', signature: '$13', digest: '$14', signingKey: '$15' })},
  accepted AS MATERIALIZED (
    SELECT EXISTS (SELECT 1 FROM ins) OR EXISTS (SELECT 1 FROM raised) AS raised,
           EXISTS (SELECT 1 FROM held WHERE mark = $12 AND digest = $14) AS repeated
  ), ${enqueueCtes('(SELECT raised OR repeated FROM accepted)')}
  SELECT EXISTS (SELECT 1 FROM ok) AS known, m.raised, h.mark, h.signature, h.digest, a.list_version, l.device_id, l.queued
    FROM accepted m LEFT JOIN held h ON true LEFT JOIN acct a ON true LEFT JOIN locked l ON true`;

/** An ack in one statement: delete the device's messages among the ids, subtract what was deleted. */
const ACK_SQL = `WITH del AS (
    DELETE FROM messages WHERE user_name = $1 AND device_id = $2 AND id = ANY($3::bytea[]) RETURNING 1
  ), n AS MATERIALIZED (
    SELECT count(*) AS n FROM del
  ), upd AS (
    UPDATE queue_sizes SET queued = queued - (SELECT n FROM n) WHERE user_name = $1 AND device_id = $2 AND (SELECT n FROM n) > 0
  )
  SELECT n FROM n`;

/**
 * A signed ack in one statement: the nonce as USE_NONCE_SQL records it (postgres-request-guards.ts:
 * the device row locked FOR KEY SHARE and required to hold the verified key), then ACK_SQL's
 * delete and count, only if the nonce was recorded (`del` reads `ins`, so runs after it). Every
 * part sees one snapshot and commits together (PostgreSQL 15 §7.8.4). $1 user, $2 device, $3
 * nonce, $4 its expiry, $5 signing key, $6 message ids.
 */
const ACK_SIGNED_SQL = `WITH ok AS MATERIALIZED (
    SELECT 1 FROM devices WHERE user_name = $1::text AND device_id = $2::bigint AND signing_key = $5::bytea FOR KEY SHARE
  ), ins AS (
    INSERT INTO request_nonces (user_name, device_id, nonce, expires_at)
    SELECT $1, $2, $3::bytea, $4::bigint FROM ok
    ON CONFLICT DO NOTHING RETURNING 1
  ), del AS (
    DELETE FROM messages WHERE user_name = $1 AND device_id = $2 AND id = ANY($6::bytea[]) AND EXISTS (SELECT 1 FROM ins) RETURNING 1
  ), n AS MATERIALIZED (
    SELECT count(*) AS n FROM del
  ), upd AS (
    UPDATE queue_sizes SET queued = queued - (SELECT n FROM n) WHERE user_name = $1 AND device_id = $2 AND (SELECT n FROM n) > 0
  )
  SELECT EXISTS (SELECT 1 FROM ok) AS known, EXISTS (SELECT 1 FROM ins) AS recorded, (SELECT n FROM n) AS n`;

type MessageRow = { seq: string; id: Buffer; from_user: string; from_device: string; body: Buffer; sent_at: string };

type EnqueueRow = { list_version: string | null; device_id: string | null; queued: string | null };

/** ENQUEUE_SQL's parameters for `q`, and the count per recipient device (ids sorted). */
function enqueueParams(q: Enqueue) {
  const perDevice = new Map<number, number>();
  for (const m of q.messages) perDevice.set(m.deviceId, (perDevice.get(m.deviceId) ?? 0) + 1);
  const ids = [...perDevice.keys()].sort((a, b) => a - b);
  const values = [
    q.to,
    ids,
    q.expectedListVersion,
    q.maxQueued,
    q.fromUser,
    q.fromDevice,
    q.sentAt,
    q.messages.map((m) => m.id),
    q.messages.map((m) => m.deviceId),
    q.messages.map((m) => m.body),
    ids.map((d) => perDevice.get(d)),
  ];
  return { perDevice, ids, values };
}

class PgMailboxes implements MailboxRepository {
  constructor(
    private readonly db: Pool,
    private readonly sendMarks: SendMarkRepository,
  ) {}

  /**
   * One statement, one round trip (ENQUEUE_SQL), once the recipient devices have their
   * `queue_sizes` rows; the first message to a device creates its row (enqueueCreating).
   */
  async enqueue(q: Enqueue): Promise<EnqueueResult> {
    const { perDevice, ids, values } = enqueueParams(q);
    const r = await this.db.write<EnqueueRow>('enqueue', ENQUEUE_SQL, values);
    return this.enqueueVerdict(q, r.rows, perDevice, ids);
  }

  /**
   * The mark and the send in one statement (ENQUEUE_MARKED_SQL). When the mark's verdict is
   * undecided (RAISE_SQL's race with a concurrent first mark: nothing written), the raise's own
   * transaction, then `enqueue`.
   */
  async enqueueMarked(q: Enqueue, mark: { record: SendMarkRecord; signingKey: Uint8Array }): Promise<MarkedEnqueueResult> {
    const { perDevice, ids, values } = enqueueParams(q);
    const { record, signingKey } = mark;
    // Not idempotent (run twice, the send is stored twice): a lost connection is retried only if the statement never went.
    const r = await this.db.write<RaiseRow & EnqueueRow>('enqueue_marked', ENQUEUE_MARKED_SQL, [
      ...values,
      record.mark,
      record.signature,
      record.digest,
      signingKey,
    ]);
    const verdict = markVerdict(r.rows[0] as RaiseRow, record);
    if (!verdict) {
      const raised = await this.sendMarks.raise(q.fromUser, q.fromDevice, record, signingKey);
      return raised.status === 'raised' || raised.status === 'repeated' ? { mark: raised, stored: await this.enqueue(q) } : { mark: raised };
    }
    if (verdict.status !== 'raised' && verdict.status !== 'repeated') return { mark: verdict };
    return { mark: verdict, stored: await this.enqueueVerdict(q, r.rows, perDevice, ids) };
  }

  /** The store's verdict from ENQUEUE_SQL's rows (the version, each locked row's size before the update); rows missing: enqueueCreating. */
  private enqueueVerdict(q: Enqueue, rows: readonly EnqueueRow[], perDevice: Map<number, number>, ids: number[]): Promise<EnqueueResult> | EnqueueResult {
    const first = rows[0];
    if (!first || first.list_version === null || num(first.list_version) !== q.expectedListVersion) return { status: 'stale_list' };
    const queued = new Map(rows.filter((row) => row.device_id !== null).map((row) => [num(row.device_id as string), num(row.queued as string)]));
    if (queued.size < ids.length) return this.enqueueCreating(q, perDevice, ids);
    const full = q.messages.filter((m) => (queued.get(m.deviceId) ?? 0) >= q.maxQueued).map((m) => m.deviceId);
    if (full.length > 0) return { status: 'queue_full', deviceIds: full };
    return { status: 'stored' };
  }

  /** One transaction per send, concurrently (as the items of a send frame were stored before enqueueMany). */
  enqueueMany(requests: readonly Enqueue[]): Promise<EnqueueResult[]> {
    return Promise.all(requests.map((q) => this.enqueue(q)));
  }

  /** The same, as a transaction of several statements that first creates missing `queue_sizes` rows. */
  private enqueueCreating(q: Enqueue, perDevice: Map<number, number>, ids: number[]): Promise<EnqueueResult> {
    return this.db.tx(async (c): Promise<EnqueueResult> => {
      // SHARE: the list cannot change (replaceDeviceList takes FOR UPDATE) until this commits.
      const v = (await c.query<{ list_version: string }>('SELECT list_version FROM accounts WHERE user_name = $1 FOR SHARE', [q.to])).rows[0];
      if (!v || num(v.list_version) !== q.expectedListVersion) return { status: 'stale_list' };
      await c.query(
        `INSERT INTO queue_sizes (user_name, device_id, queued) SELECT $1, d, 0 FROM unnest($2::bigint[]) AS t(d)
         ON CONFLICT (user_name, device_id) DO NOTHING`,
        [q.to, ids],
      );
      // Locked in device order (no deadlock between two senders); held until commit.
      const sizes = await c.query<{ device_id: string; queued: string }>(
        'SELECT device_id, queued FROM queue_sizes WHERE user_name = $1 AND device_id = ANY($2::bigint[]) ORDER BY device_id FOR UPDATE',
        [q.to, ids],
      );
      const queued = new Map(sizes.rows.map((r) => [num(r.device_id), num(r.queued)]));
      const full = q.messages.filter((m) => (queued.get(m.deviceId) ?? 0) >= q.maxQueued).map((m) => m.deviceId);
      if (full.length > 0) return { status: 'queue_full', deviceIds: full };
      await c.query(
        `INSERT INTO messages (id, user_name, device_id, from_user, from_device, body, sent_at)
         SELECT i, $1, d, $2, $3, b, $4 FROM unnest($5::bytea[], $6::bigint[], $7::bytea[]) WITH ORDINALITY AS t(i, d, b, n) ORDER BY n`,
        [q.to, q.fromUser, q.fromDevice, q.sentAt, q.messages.map((m) => m.id), q.messages.map((m) => m.deviceId), q.messages.map((m) => m.body)],
      );
      await c.query(
        `UPDATE queue_sizes s SET queued = s.queued + t.n FROM unnest($2::bigint[], $3::bigint[]) AS t(d, n)
          WHERE s.user_name = $1 AND s.device_id = t.d`,
        [q.to, ids, ids.map((d) => perDevice.get(d))],
      );
      return { status: 'stored' };
    });
  }

  async fetch(user: string, deviceId: number, options: { afterSeq?: number; limit: number; maxBytes?: number }): Promise<StoredMessage[]> {
    const r = await this.db.query<MessageRow>(
      `SELECT seq, id, from_user, from_device, body, sent_at FROM messages
        WHERE user_name = $1 AND device_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
      [user, deviceId, options.afterSeq ?? 0, options.limit],
      'fetch',
    );
    const out: StoredMessage[] = [];
    let bytes = 0;
    for (const m of r.rows) {
      if (options.maxBytes !== undefined && out.length > 0 && bytes + m.body.length > options.maxBytes) break;
      bytes += m.body.length;
      out.push({ seq: num(m.seq), id: u8(m.id), fromUser: m.from_user, fromDevice: num(m.from_device), body: u8(m.body), sentAt: num(m.sent_at) });
    }
    return out;
  }

  async ack(user: string, deviceId: number, ids: readonly Uint8Array[]): Promise<number> {
    if (ids.length === 0) return 0;
    // Idempotent (a repeat deletes nothing more and subtracts nothing more): safe to repeat after a lost connection.
    const r = await this.db.write<{ n: string }>('ack', ACK_SQL, [user, deviceId, [...ids]], true);
    return num((r.rows[0] as { n: string }).n);
  }

  async ackSigned(user: string, deviceId: number, ids: readonly Uint8Array[], n: SignedNonce): Promise<{ status: UseNonceResult; acked: number }> {
    // Not idempotent: run twice, a recorded nonce would come back 'replayed'.
    const r = await this.db.write<{ known: boolean; recorded: boolean; n: string }>('ack_signed', ACK_SIGNED_SQL, [
      user,
      deviceId,
      n.nonce,
      n.expiresAt,
      n.signingKey,
      [...ids],
    ]);
    const row = r.rows[0] as { known: boolean; recorded: boolean; n: string };
    if (!row.known) return { status: 'unknown_device', acked: 0 };
    return row.recorded ? { status: 'recorded', acked: num(row.n) } : { status: 'replayed', acked: 0 };
  }

  async countAll(): Promise<number> {
    const r = await this.db.query<{ n: string }>('SELECT coalesce(sum(queued), 0) AS n FROM queue_sizes');
    return num((r.rows[0] as { n: string }).n);
  }
}

class PgAuth implements AuthRepository {
  constructor(private readonly db: Pool) {}

  /** Locks the device row (creations for one device take turns; a revocation waits); its signing key, or undefined. */
  private async lockDevice(c: Db, user: string, deviceId: number): Promise<Buffer | undefined> {
    const r = await c.query<{ signing_key: Buffer }>('SELECT signing_key FROM devices WHERE user_name = $1 AND device_id = $2 FOR NO KEY UPDATE', [
      user,
      deviceId,
    ]);
    return r.rows[0]?.signing_key;
  }

  async createChallenge(
    ch: { hash: Uint8Array; user: string; deviceId: number; createdAt: number; expiresAt: number; requester?: Uint8Array },
    maxOutstanding: number,
  ): Promise<boolean> {
    const requester = ch.requester ?? new Uint8Array(0);
    return this.db.tx(async (c) => {
      if (!(await this.lockDevice(c, ch.user, ch.deviceId))) return false;
      await c.query(
        `DELETE FROM auth_challenges WHERE challenge_hash IN
           (SELECT challenge_hash FROM auth_challenges WHERE user_name = $1 AND device_id = $2 AND requester = $3
             ORDER BY created_at DESC OFFSET $4)`,
        [ch.user, ch.deviceId, requester, Math.max(0, maxOutstanding - 1)],
      );
      await c.query('INSERT INTO auth_challenges (challenge_hash, user_name, device_id, created_at, expires_at, requester) VALUES ($1, $2, $3, $4, $5, $6)', [
        ch.hash,
        ch.user,
        ch.deviceId,
        ch.createdAt,
        ch.expiresAt,
        requester,
      ]);
      return true;
    });
  }

  async consumeChallenge(hash: Uint8Array, user: string, deviceId: number, now: number): Promise<boolean> {
    // One statement: of concurrent callers, exactly one gets the row.
    const r = await this.db.query<{ user_name: string; device_id: string; expires_at: string }>(
      'DELETE FROM auth_challenges WHERE challenge_hash = $1 RETURNING user_name, device_id, expires_at',
      [hash],
    );
    const row = r.rows[0];
    return !!row && row.user_name === user && num(row.device_id) === deviceId && num(row.expires_at) > now;
  }

  async createToken(
    t: { hash: Uint8Array; user: string; deviceId: number; createdAt: number; expiresAt: number; signingKey?: Uint8Array },
    maxPerDevice: number,
  ): Promise<boolean> {
    return this.db.tx(async (c) => {
      const key = await this.lockDevice(c, t.user, t.deviceId);
      if (!key || (t.signingKey && !same(key, t.signingKey))) return false;
      await c.query(
        `DELETE FROM auth_tokens WHERE token_hash IN
           (SELECT token_hash FROM auth_tokens WHERE user_name = $1 AND device_id = $2
             ORDER BY created_at DESC OFFSET $3)`,
        [t.user, t.deviceId, Math.max(0, maxPerDevice - 1)],
      );
      await c.query('INSERT INTO auth_tokens (token_hash, user_name, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
        t.hash,
        t.user,
        t.deviceId,
        t.createdAt,
        t.expiresAt,
      ]);
      return true;
    });
  }

  async findToken(hash: Uint8Array, now: number): Promise<TokenRecord | undefined> {
    const r = await this.db.query<{ user_name: string; device_id: string; expires_at: string; signing_key: Buffer }>(
      `SELECT t.user_name, t.device_id, t.expires_at, d.signing_key FROM auth_tokens t
         JOIN devices d ON d.user_name = t.user_name AND d.device_id = t.device_id
        WHERE t.token_hash = $1 AND t.expires_at > $2`,
      [hash, now],
      'find_token',
    );
    const row = r.rows[0];
    return row ? { user: row.user_name, deviceId: num(row.device_id), expiresAt: num(row.expires_at), signingKey: u8(row.signing_key) } : undefined;
  }
}

type ChannelRow = { state: number; expires_at: string };

class PgProvisioning implements ProvisioningRepository {
  constructor(private readonly db: Pool) {}

  private async peek(hash: Uint8Array): Promise<ChannelRow | undefined> {
    return (await this.db.query<ChannelRow>('SELECT state, expires_at FROM provisioning_channels WHERE channel_hash = $1', [hash])).rows[0];
  }

  async createChannel(hash: Uint8Array, createdAt: number, expiresAt: number, maxOpen: number): Promise<boolean> {
    return this.db.tx(async (c) => {
      // Count-then-insert must not interleave, across instances too: a transaction-scoped lock.
      await c.query('SELECT pg_advisory_xact_lock($1)', [PROVISIONING_LOCK]);
      const open = (await c.query<{ n: string }>('SELECT count(*) AS n FROM provisioning_channels WHERE expires_at > $1', [createdAt])).rows[0] as {
        n: string;
      };
      if (num(open.n) >= maxOpen) return false;
      await c.query('INSERT INTO provisioning_channels (channel_hash, state, created_at, expires_at) VALUES ($1, 0, $2, $3)', [hash, createdAt, expiresAt]);
      return true;
    });
  }

  async putEnvelope(hash: Uint8Array, envelope: Uint8Array, now: number): Promise<PutEnvelopeResult> {
    const r = await this.db.query('UPDATE provisioning_channels SET envelope = $1, state = 1 WHERE channel_hash = $2 AND state = 0 AND expires_at > $3', [
      envelope,
      hash,
      now,
    ]);
    if (r.rowCount === 1) return 'stored';
    const row = await this.peek(hash);
    return row && num(row.expires_at) > now ? 'already_set' : 'not_found';
  }

  async takeEnvelope(hash: Uint8Array, now: number): Promise<TakeEnvelopeResult> {
    // One statement: the row is locked, re-checked after any concurrent taker commits, emptied,
    // and its old envelope returned, so exactly one caller gets it.
    const r = await this.db.query<{ envelope: Buffer }>(
      `UPDATE provisioning_channels p SET envelope = NULL, state = 2
         FROM (SELECT channel_hash, envelope FROM provisioning_channels
                WHERE channel_hash = $1 AND state = 1 AND expires_at > $2 FOR UPDATE) old
        WHERE p.channel_hash = old.channel_hash
       RETURNING old.envelope`,
      [hash, now],
    );
    const taken = r.rows[0];
    if (taken) return { status: 'envelope', envelope: u8(taken.envelope) };
    const row = await this.peek(hash);
    if (!row || num(row.expires_at) <= now || row.state === 2) return { status: 'not_found' };
    return { status: 'empty' };
  }
}
