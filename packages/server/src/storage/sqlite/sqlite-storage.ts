/**
 * The embedded storage: one SQLite file through `node:sqlite` (built into Node: no native addon to
 * compile at install; loaded by ./node-sqlite.ts when the store opens).
 *
 * Pragmas:
 * - `journal_mode = WAL`: readers never block the writer, and a crash never corrupts the file.
 * - `synchronous = FULL`: every commit is fsynced before the server answers. With WAL, NORMAL
 *   may lose the last commits on power loss (never corrupting). That would undo an accepted
 *   message (the sender got 200, the recipient never gets it) or, worse, resurrect a one-time
 *   prekey already handed out, which the server would then hand out a second time — breaking the
 *   "at most once" promise of PROTOCOL.md §6. One fsync per write transaction is the price.
 * - `foreign_keys = ON`: revocation deletes a device row and the cascade removes its tokens,
 *   challenges, prekeys and queue in the same transaction.
 * - `secure_delete = ON`: deleted rows (acknowledged ciphertext, used prekeys, token hashes) are
 *   overwritten in the file instead of lingering in free pages.
 * - `temp_store = MEMORY`: the statement journal of each group-commit operation's SAVEPOINT (the
 *   original of every page the operation changes, kept so it can be rolled back alone) stays in
 *   memory instead of an unlinked temporary file. With a file, every page first touched inside a
 *   savepoint cost a write system call: acknowledging a message (a DELETE inside the ack's
 *   savepoint) took ~25 µs of CPU instead of ~6 (docs/BENCHMARKS.md, relay section). Memory is
 *   bounded by what one operation changes (the batch byte budget below), and by sorts without an
 *   index, which the relay's statements do not do on large tables. Nothing here is about
 *   durability: the journal only ever serves a rollback within the open transaction.
 *
 * Writes go through group commit (./group-commit.ts): each write method queues a closure that
 * does its reads and writes, and a flusher runs every closure queued in one turn of the event loop
 * inside ONE `BEGIN IMMEDIATE … COMMIT` (one fsync), each closure in its own savepoint. So each
 * write method is still atomic on its own (a closure sees the effects of the ones before it; one
 * that throws is rolled back alone), and its promise settles only once the commit is durable.
 * Write transactions are `BEGIN IMMEDIATE` so they serialise on the write lock up front (no
 * upgrade deadlocks if a second process ever opens the file).
 *
 * Reads run at once on the same connection and see committed data only. Any decision that must
 * be atomic with a write (a version compare-and-set, a queue cap, an existence check) is re-made
 * inside the write's closure, never taken from an earlier read.
 *
 * Statements are prepared once, and run as prepared: those that join or sort compare with `= +?`
 * (and say `LIMIT +?`) rather than `= ?`. SQLite 3.54 marks such a parameter as one whose value
 * may change the plan, and node:sqlite clears every binding before each run, which then makes
 * SQLite re-prepare the statement on every execution (2-4x the cost of the query). The unary plus
 * changes neither plan nor result; test/storage.test.ts checks that no statement is re-prepared.
 *
 * node:sqlite returns blobs as plain Uint8Arrays, each over its own exact-size ArrayBuffer, so
 * nothing above the adapter sees a Buffer (or a view into a shared pool) and no copy is needed.
 * Integers come back as numbers (every stored integer — ids, counts, sizes, millisecond times —
 * is far below 2^53; node:sqlite throws rather than round one that is not).
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { FsBlobStore } from '../../blobs/fs-blob-store.js';
import type { BlobStore } from '../../blobs/types.js';
import { pruneFiles } from '../files-prune.js';
import type { GroupRepository } from '../groups-types.js';
import { MemoryRateLimits } from '../memory-rate-limits.js';
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
  SendMarkRepository,
  SignedNonce,
  Storage,
  StoredMessage,
  TakeEnvelopeResult,
  TokenRecord,
  UseNonceResult,
} from '../types.js';
import { ensureDirectory } from './data-dir.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import { migrate } from './migrate.js';
import { loadNodeSqlite } from './node-sqlite.js';
import { Pluck } from './pluck.js';
import { SqliteAccountDeletion } from './sqlite-account-deletion.js';
import { SqliteBackups } from './sqlite-backups.js';
import { SqliteFiles } from './sqlite-files.js';
import { SqliteGroups } from './sqlite-groups.js';
import { SqliteRecords } from './sqlite-records.js';
import { SqliteRequestNonces, SqliteSendMarks } from './sqlite-request-guards.js';
import { SqliteSealed } from './sqlite-sealed.js';

export const DATABASE_FILE = 'relay.db';
export const BLOBS_DIR = 'blobs';

export interface SqliteStorageOptions {
  /** Directory for `relay.db` (+ `-wal`, `-shm`) and `blobs/`. Created with mode 0700. */
  readonly dataDir: string;
  readonly now: () => number;
  /** Batch bounds and a per-commit hook (metrics, tests). */
  readonly groupCommit?: GroupCommitOptions;
}

/** Runs `f` in a read transaction: one snapshot for several statements. */
type Read = <T>(f: () => T) => T;

/** Roughly what storing a prekey batch writes, for the group-commit byte budget. */
function prekeyBytes(b: PrekeyBatch): number {
  let n = (b.signedPreKey ? 96 : 0) + (b.lastResortPqPreKey ? b.lastResortPqPreKey.publicKey.length + 64 : 0);
  for (const k of b.oneTimePreKeys ?? []) n += k.publicKey.length;
  for (const k of b.pqPreKeys ?? []) n += k.publicKey.length + k.signature.length;
  return n;
}

type DeviceRow = { device_id: number; signing_key: Uint8Array; identity_key: Uint8Array };
const toDevice = (r: DeviceRow): DeviceRecord => ({ deviceId: r.device_id, signingKey: r.signing_key, identityKey: r.identity_key });
const sameKeys = (a: DeviceRecord, b: DeviceRecord) => Buffer.compare(a.signingKey, b.signingKey) === 0 && Buffer.compare(a.identityKey, b.identityKey) === 0;

/** Creates a file (if absent) readable and writable by the owner only, then tightens it anyway. */
function ensurePrivateFile(path: string): void {
  closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
}

/** Throws SqliteUnavailableError (./node-sqlite.ts) on a Node without node:sqlite, before touching the disk. */
export function openSqliteStorage(options: SqliteStorageOptions): Storage {
  const { DatabaseSync } = loadNodeSqlite();
  ensureDirectory(options.dataDir);
  ensureDirectory(join(options.dataDir, BLOBS_DIR));
  const path = join(options.dataDir, DATABASE_FILE);
  ensurePrivateFile(path);
  // Defensive mode (no SQL that can corrupt the file on purpose) and no double-quoted string
  // literals, as better-sqlite3 had them; node:sqlite's defaults, spelled out.
  const db = new DatabaseSync(path, { defensive: true, enableDoubleQuotedStringLiterals: false });
  try {
    const mode = db.prepare('PRAGMA journal_mode = WAL').get()?.journal_mode;
    if (mode !== 'wal') throw new Error(`${path}: SQLite refused WAL mode (journal_mode is ${String(mode)})`);
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA foreign_keys = ON');
    db.exec('PRAGMA secure_delete = ON');
    db.exec('PRAGMA busy_timeout = 5000');
    // 16 MB of page cache, the size the relay had with better-sqlite3's build (SQLite's default is 2 MB).
    db.exec('PRAGMA cache_size = -16000');
    // Savepoint journals in memory, not in a temporary file (see above).
    db.exec('PRAGMA temp_store = MEMORY');
    // SQLite gives -wal and -shm the database file's permissions; make sure of it.
    for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) chmodSync(path + suffix, 0o600);
    migrate(db, options.now());
    return new SqliteStorage(db, new GroupCommit(db, options.groupCommit), new FsBlobStore(join(options.dataDir, BLOBS_DIR)));
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * `BEGIN` (deferred: a read lock only, taken by the first SELECT) … `COMMIT` around `f`, with
 * statements prepared once. Inside a write transaction (a group-commit closure) `f` just runs: it
 * already sees one snapshot, and a read has nothing to roll back.
 */
function readTransaction(db: DatabaseSync): Read {
  const begin = db.prepare('BEGIN');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  return <T>(f: () => T): T => {
    if (db.isTransaction) return f();
    begin.run();
    try {
      const value = f();
      commit.run();
      return value;
    } catch (err) {
      if (db.isTransaction) rollback.run();
      throw err;
    }
  };
}

class SqliteStorage implements Storage {
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
  readonly backups: BackupRepository;
  /** In memory: the embedded relay is one process (memory-rate-limits.ts). */
  readonly rateLimits: RateLimitRepository & { sweep(now: number): void } = new MemoryRateLimits();
  private closed = false;
  private readonly pruneStatements;
  private readonly deletion: SqliteAccountDeletion;

  constructor(
    private readonly db: DatabaseSync,
    private readonly writer: GroupCommit,
    readonly blobs: BlobStore,
  ) {
    const read = readTransaction(db);
    const prekeys = new SqlitePrekeys(db, writer, read);
    this.deletion = new SqliteAccountDeletion(db, writer, blobs);
    this.accounts = new SqliteAccounts(db, writer, read, prekeys, this.deletion);
    this.prekeys = prekeys;
    this.mailboxes = new SqliteMailboxes(db, writer);
    this.auth = new SqliteAuth(db, writer);
    this.provisioning = new SqliteProvisioning(db, writer);
    this.files = new SqliteFiles(db, writer);
    this.records = new SqliteRecords(db, writer);
    this.groups = new SqliteGroups(db, writer);
    this.requestNonces = new SqliteRequestNonces(db, writer);
    this.sealed = new SqliteSealed(db, writer);
    this.sendMarks = new SqliteSendMarks(db, writer);
    this.backups = new SqliteBackups(db, writer);
    this.pruneStatements = [
      db.prepare('DELETE FROM auth_challenges WHERE expires_at <= ?'),
      db.prepare('DELETE FROM auth_tokens WHERE expires_at <= ?'),
      db.prepare('DELETE FROM provisioning_channels WHERE expires_at <= ?'),
      db.prepare('DELETE FROM request_nonces WHERE expires_at <= ?'),
      db.prepare('DELETE FROM backup_logins WHERE expires_at <= ?'),
      db.prepare('DELETE FROM delivery_tokens WHERE expires_at <= ?'),
      db.prepare('DELETE FROM sealed_digests WHERE expires_at <= ?'),
    ];
  }

  async pruneExpired(now: number): Promise<void> {
    await this.writer.run(() => {
      for (const s of this.pruneStatements) s.run(now);
    });
    this.rateLimits.sweep(now);
    await pruneFiles(this.files, this.blobs, now, { sweepOrphans: true });
    this.deletion.retryScrub();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Commit whatever is still queued (its callers are waiting for it), then refuse new writes.
    this.writer.close();
    // Fold the WAL back into the main file so the data directory is a single consistent file.
    this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}

class SqlitePrekeys implements PrekeyRepository {
  private readonly s;
  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
    private readonly read: Read,
  ) {
    this.s = {
      device: db.prepare('SELECT device_id, signing_key, identity_key FROM devices WHERE user = ? AND device_id = ?'),
      countOtk: new Pluck<number>(db, 'SELECT count(*) AS n FROM one_time_prekeys WHERE user = ? AND device_id = ?'),
      countPq: new Pluck<number>(db, 'SELECT count(*) AS n FROM pq_prekeys WHERE user = ? AND device_id = ?'),
      hasOtk: new Pluck<number>(db, 'SELECT 1 FROM one_time_prekeys WHERE user = ? AND device_id = ? AND key_id = ?'),
      hasPq: new Pluck<number>(db, 'SELECT 1 FROM pq_prekeys WHERE user = ? AND device_id = ? AND key_id = ?'),
      upsertSpk: db.prepare(
        `INSERT INTO signed_prekeys (user, device_id, key_id, public_key, signature) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user, device_id) DO UPDATE SET key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
      ),
      upsertLastResort: db.prepare(
        `INSERT INTO pq_last_resort_prekeys (user, device_id, key_id, public_key, signature) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user, device_id) DO UPDATE SET key_id = excluded.key_id, public_key = excluded.public_key, signature = excluded.signature`,
      ),
      insertOtk: db.prepare('INSERT INTO one_time_prekeys (user, device_id, key_id, public_key) VALUES (?, ?, ?, ?)'),
      insertPq: db.prepare('INSERT INTO pq_prekeys (user, device_id, key_id, public_key, signature) VALUES (?, ?, ?, ?, ?)'),
      spk: db.prepare('SELECT key_id, public_key, signature FROM signed_prekeys WHERE user = ? AND device_id = ?'),
      lastResort: db.prepare('SELECT key_id, public_key, signature FROM pq_last_resort_prekeys WHERE user = ? AND device_id = ?'),
      // Oldest first; DELETE ... RETURNING takes the row in the same statement that removes it.
      takeOtk: db.prepare(
        `DELETE FROM one_time_prekeys WHERE rowid =
           (SELECT rowid FROM one_time_prekeys WHERE user = +? AND device_id = +? ORDER BY rowid LIMIT 1)
         RETURNING key_id, public_key`,
      ),
      takePq: db.prepare(
        `DELETE FROM pq_prekeys WHERE rowid =
           (SELECT rowid FROM pq_prekeys WHERE user = +? AND device_id = +? ORDER BY rowid LIMIT 1)
         RETURNING key_id, public_key, signature`,
      ),
    };
  }

  /** Checks then writes; call inside a transaction. Nothing is written unless the result is 'stored'. */
  write(user: string, deviceId: number, batch: PrekeyBatch, limits: PrekeyLimits): PrekeyUploadResult {
    const s = this.s;
    if (!s.device.get(user, deviceId)) return { status: 'unknown_device' };
    const otks = batch.oneTimePreKeys ?? [];
    const pqs = batch.pqPreKeys ?? [];
    if (otks.length > 0 && (s.countOtk.get(user, deviceId) as number) + otks.length > limits.maxStoredOneTime) return { status: 'too_many' };
    if (pqs.length > 0 && (s.countPq.get(user, deviceId) as number) + pqs.length > limits.maxStoredOneTime) return { status: 'too_many' };
    if (otks.some((k) => s.hasOtk.get(user, deviceId, k.id))) return { status: 'duplicate_id' };
    if (pqs.some((k) => s.hasPq.get(user, deviceId, k.id))) return { status: 'duplicate_id' };
    if (batch.signedPreKey) {
      const k = batch.signedPreKey;
      s.upsertSpk.run(user, deviceId, k.id, k.publicKey, k.signature);
    }
    if (batch.lastResortPqPreKey) {
      const k = batch.lastResortPqPreKey;
      s.upsertLastResort.run(user, deviceId, k.id, k.publicKey, k.signature);
    }
    for (const k of otks) s.insertOtk.run(user, deviceId, k.id, k.publicKey);
    for (const k of pqs) s.insertPq.run(user, deviceId, k.id, k.publicKey, k.signature);
    return { status: 'stored' };
  }

  async upload(user: string, deviceId: number, batch: PrekeyBatch, limits: PrekeyLimits, signingKey?: Uint8Array): Promise<PrekeyUploadResult> {
    return this.w.run((): PrekeyUploadResult => {
      if (signingKey) {
        const device = this.s.device.get(user, deviceId) as DeviceRow | undefined;
        if (!device || Buffer.compare(device.signing_key, signingKey) !== 0) return { status: 'unknown_device' };
      }
      return this.write(user, deviceId, batch, limits);
    }, prekeyBytes(batch));
  }

  async status(user: string, deviceId: number): Promise<PrekeyStatus> {
    const s = this.s;
    return this.read(() => {
      const spk = s.spk.get(user, deviceId) as { key_id: number } | undefined;
      const lr = s.lastResort.get(user, deviceId) as { key_id: number } | undefined;
      return {
        oneTimePreKeys: s.countOtk.get(user, deviceId) as number,
        pqPreKeys: s.countPq.get(user, deviceId) as number,
        signedPreKeyId: spk ? spk.key_id : null,
        lastResortPqPreKeyId: lr ? lr.key_id : null,
      };
    });
  }

  async claim(user: string, deviceIds: readonly number[], options: ClaimOptions = {}): Promise<ClaimResult[]> {
    const s = this.s;
    type KeyRow = { key_id: number; public_key: Uint8Array; signature: Uint8Array };
    return this.w.run(() =>
      deviceIds.map((deviceId): ClaimResult => {
        const device = s.device.get(user, deviceId) as DeviceRow | undefined;
        if (!device) return { status: 'unavailable', deviceId };
        const spk = s.spk.get(user, deviceId) as KeyRow | undefined;
        if (!spk) return { status: 'unavailable', deviceId };
        const spare = options.withoutOneTime?.has(deviceId) ?? false;
        // Check availability before consuming anything: an unavailable device loses no key.
        const lastResort = spare ? (s.lastResort.get(user, deviceId) as KeyRow | undefined) : undefined;
        const oneTimePq = lastResort ? undefined : (s.takePq.get(user, deviceId) as KeyRow | undefined);
        const pq = lastResort ?? oneTimePq ?? (s.lastResort.get(user, deviceId) as KeyRow | undefined);
        if (!pq) return { status: 'unavailable', deviceId };
        const otk = spare ? undefined : (s.takeOtk.get(user, deviceId) as { key_id: number; public_key: Uint8Array } | undefined);
        const base = {
          status: 'claimed' as const,
          device: toDevice(device),
          signedPreKey: { id: spk.key_id, publicKey: spk.public_key, signature: spk.signature },
          pqPreKey: { id: pq.key_id, publicKey: pq.public_key, signature: pq.signature, lastResort: !oneTimePq },
          remaining: { oneTimePreKeys: s.countOtk.get(user, deviceId) as number, pqPreKeys: s.countPq.get(user, deviceId) as number },
        };
        return otk ? { ...base, oneTimePreKey: { id: otk.key_id, publicKey: otk.public_key } } : base;
      }),
    );
  }
}

class SqliteAccounts implements AccountRepository {
  private readonly s;
  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
    private readonly read: Read,
    private readonly prekeys: SqlitePrekeys,
    private readonly deletion: SqliteAccountDeletion,
  ) {
    this.s = {
      account: db.prepare('SELECT user, master_key, list_version, device_list, rotation FROM accounts WHERE user = ?'),
      version: new Pluck<number>(db, 'SELECT list_version FROM accounts WHERE user = ?'),
      devices: db.prepare('SELECT device_id, signing_key, identity_key FROM devices WHERE user = +? ORDER BY device_id'),
      device: db.prepare('SELECT device_id, signing_key, identity_key FROM devices WHERE user = ? AND device_id = ?'),
      insertAccount: db.prepare(
        'INSERT INTO accounts (user, master_key, list_version, device_list, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user) DO NOTHING',
      ),
      insertDevice: db.prepare('INSERT INTO devices (user, device_id, signing_key, identity_key) VALUES (?, ?, ?, ?)'),
      deleteDevice: db.prepare('DELETE FROM devices WHERE user = ? AND device_id = ?'),
      updateList: db.prepare('UPDATE accounts SET list_version = ?, device_list = ?, updated_at = ? WHERE user = ?'),
      rotate: db.prepare('UPDATE accounts SET master_key = ?, rotation = ? WHERE user = ?'),
    };
  }

  async create(a: NewAccount, limits: PrekeyLimits): Promise<'created' | 'exists'> {
    return this.w.run(() => {
      if (this.s.insertAccount.run(a.user, a.masterKey, a.listVersion, a.deviceList, a.createdAt, a.createdAt).changes === 0) return 'exists' as const;
      this.s.insertDevice.run(a.user, a.device.deviceId, a.device.signingKey, a.device.identityKey);
      const r = this.prekeys.write(a.user, a.device.deviceId, a.prekeys, limits);
      if (r.status !== 'stored') throw new Error(`account creation: prekeys not stored (${r.status})`);
      return 'created' as const;
    }, prekeyBytes(a.prekeys));
  }

  async get(user: string): Promise<AccountRecord | undefined> {
    return this.read(() => {
      const row = this.s.account.get(user) as
        | { user: string; master_key: Uint8Array; list_version: number; device_list: Uint8Array; rotation: Uint8Array | null }
        | undefined;
      if (!row) return undefined;
      const devices = (this.s.devices.all(user) as DeviceRow[]).map(toDevice);
      const base = { user: row.user, masterKey: row.master_key, listVersion: row.list_version, deviceList: row.device_list, devices };
      return row.rotation ? { ...base, rotation: row.rotation } : base;
    });
  }

  async getDevice(user: string, deviceId: number): Promise<DeviceRecord | undefined> {
    const row = this.s.device.get(user, deviceId) as DeviceRow | undefined;
    return row ? toDevice(row) : undefined;
  }

  delete(request: AccountDeletionRequest): Promise<AccountDeletionResult> {
    return this.deletion.delete(request);
  }

  async replaceDeviceList(u: DeviceListUpdate, limits: PrekeyLimits): Promise<DeviceListUpdateResult> {
    return this.w.run(
      (): DeviceListUpdateResult => {
        const version = this.s.version.get(u.user) as number | undefined;
        if (version === undefined) return { status: 'not_found' };
        if (version !== u.expectedVersion) return { status: 'stale' };
        const stored = (this.s.devices.all(u.user) as DeviceRow[]).map(toDevice);
        const next = new Map(u.devices.map((d) => [d.deviceId, d]));
        const revoked: number[] = [];
        for (const d of stored) {
          const n = next.get(d.deviceId);
          if (n && sameKeys(n, d)) {
            next.delete(d.deviceId);
            continue;
          }
          // Absent, or the same id with new keys: revoke (the cascade deletes tokens, queue, prekeys).
          this.s.deleteDevice.run(u.user, d.deviceId);
          revoked.push(d.deviceId);
        }
        for (const d of next.values()) this.s.insertDevice.run(u.user, d.deviceId, d.signingKey, d.identityKey);
        this.s.updateList.run(u.listVersion, u.deviceList, u.updatedAt, u.user);
        if (u.rotation) this.s.rotate.run(u.rotation.masterKey, u.rotation.statement, u.user);
        if (u.newDevice) {
          if (!next.has(u.newDevice.deviceId)) throw new Error('device-list update: newDevice is not a device added by this list');
          const r = this.prekeys.write(u.user, u.newDevice.deviceId, u.newDevice.prekeys, limits);
          if (r.status !== 'stored') throw new Error(`device-list update: prekeys not stored (${r.status})`);
        }
        return { status: 'updated', revoked };
      },
      u.deviceList.length + (u.newDevice ? prekeyBytes(u.newDevice.prekeys) : 0) + (u.rotation?.statement.length ?? 0),
    );
  }
}

type MessageRow = { seq: number; id: Uint8Array; from_user: string; from_device: number; body: Uint8Array; sent_at: number };

class SqliteMailboxes implements MailboxRepository {
  private readonly s;
  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    this.s = {
      version: new Pluck<number>(db, 'SELECT list_version FROM accounts WHERE user = ?'),
      // Kept by triggers (migration 002): O(1), where counting the queue is O(queue length).
      queued: new Pluck<number>(db, 'SELECT queued FROM queue_sizes WHERE user = ? AND device_id = ?'),
      insert: db.prepare('INSERT INTO messages (id, user, device_id, from_user, from_device, body, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      fetch: db.prepare(
        'SELECT seq, id, from_user, from_device, body, sent_at FROM messages WHERE user = +? AND device_id = +? AND seq > ? ORDER BY seq LIMIT +?',
      ),
      ack: db.prepare('DELETE FROM messages WHERE user = ? AND device_id = ? AND id = ?'),
      signingKey: new Pluck<Uint8Array>(db, 'SELECT signing_key FROM devices WHERE user = ? AND device_id = ?'),
      insertNonce: db.prepare('INSERT INTO request_nonces (user, device_id, nonce, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      countAll: new Pluck<number>(db, 'SELECT coalesce(sum(queued), 0) FROM queue_sizes'),
    };
  }

  async enqueue(q: Enqueue): Promise<EnqueueResult> {
    return (await this.enqueueMany([q]))[0] as EnqueueResult;
  }

  /**
   * One group-commit operation for all the sends: one savepoint, one read of each recipient's list
   * version and of each queue's length (then counted here as messages go in: the triggers of
   * migration 002 keep `queue_sizes` equal to it, and nothing else writes inside this operation).
   */
  async enqueueMany(requests: readonly Enqueue[]): Promise<EnqueueResult[]> {
    let bytes = 0;
    for (const q of requests) for (const m of q.messages) bytes += m.body.length;
    return this.w.run((): EnqueueResult[] => {
      const versions = new Map<string, number | undefined>();
      const queued = new Map<string, number>();
      const queueKey = (user: string, deviceId: number) => `${deviceId}\u0000${user}`;
      const length = (user: string, deviceId: number) => {
        const k = queueKey(user, deviceId);
        let n = queued.get(k);
        if (n === undefined) {
          n = (this.s.queued.get(user, deviceId) as number | undefined) ?? 0;
          queued.set(k, n);
        }
        return n;
      };
      return requests.map((q): EnqueueResult => {
        if (!versions.has(q.to)) versions.set(q.to, this.s.version.get(q.to) as number | undefined);
        if (versions.get(q.to) !== q.expectedListVersion) return { status: 'stale_list' };
        const full = q.messages.filter((m) => length(q.to, m.deviceId) >= q.maxQueued).map((m) => m.deviceId);
        if (full.length > 0) return { status: 'queue_full', deviceIds: full };
        for (const m of q.messages) {
          this.s.insert.run(m.id, q.to, m.deviceId, q.fromUser, q.fromDevice, m.body, q.sentAt);
          const k = queueKey(q.to, m.deviceId);
          queued.set(k, (queued.get(k) as number) + 1);
        }
        return { status: 'stored' };
      });
    }, bytes);
  }

  async fetch(user: string, deviceId: number, options: { afterSeq?: number; limit: number; maxBytes?: number }): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    let bytes = 0;
    for (const r of this.s.fetch.iterate(user, deviceId, options.afterSeq ?? 0, options.limit) as IterableIterator<MessageRow>) {
      if (options.maxBytes !== undefined && out.length > 0 && bytes + r.body.length > options.maxBytes) break;
      bytes += r.body.length;
      out.push({ seq: r.seq, id: r.id, fromUser: r.from_user, fromDevice: r.from_device, body: r.body, sentAt: r.sent_at });
    }
    return out;
  }

  async ack(user: string, deviceId: number, ids: readonly Uint8Array[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.w.run(() => this.deleteAcked(user, deviceId, ids));
  }

  /** The nonce as SqliteRequestNonces.use records it, then the ack, in one group-commit operation. */
  async ackSigned(user: string, deviceId: number, ids: readonly Uint8Array[], n: SignedNonce): Promise<{ status: UseNonceResult; acked: number }> {
    return this.w.run(() => {
      const key = this.s.signingKey.get(user, deviceId);
      if (!key || Buffer.compare(key, n.signingKey) !== 0) return { status: 'unknown_device' as const, acked: 0 };
      if (this.s.insertNonce.run(user, deviceId, n.nonce, n.expiresAt).changes !== 1) return { status: 'replayed' as const, acked: 0 };
      return { status: 'recorded' as const, acked: this.deleteAcked(user, deviceId, ids) };
    });
  }

  private deleteAcked(user: string, deviceId: number, ids: readonly Uint8Array[]): number {
    let n = 0;
    for (const id of ids) n += Number(this.s.ack.run(user, deviceId, id).changes);
    return n;
  }

  async countAll(): Promise<number> {
    return this.s.countAll.get() as number;
  }
}

class SqliteAuth implements AuthRepository {
  private readonly s;
  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    this.s = {
      device: new Pluck<number>(db, 'SELECT 1 FROM devices WHERE user = ? AND device_id = ?'),
      signingKey: new Pluck<Uint8Array>(db, 'SELECT signing_key FROM devices WHERE user = ? AND device_id = ?'),
      insertChallenge: db.prepare('INSERT INTO auth_challenges (challenge_hash, user, device_id, created_at, expires_at, requester) VALUES (?, ?, ?, ?, ?, ?)'),
      countChallenges: new Pluck<number>(db, 'SELECT count(*) FROM auth_challenges WHERE user = ? AND device_id = ? AND requester = ?'),
      dropOldestChallenges: db.prepare(
        `DELETE FROM auth_challenges WHERE challenge_hash IN
           (SELECT challenge_hash FROM auth_challenges WHERE user = +? AND device_id = +? AND requester = +? ORDER BY created_at LIMIT +?)`,
      ),
      takeChallenge: db.prepare('DELETE FROM auth_challenges WHERE challenge_hash = ? RETURNING user, device_id, expires_at'),
      insertToken: db.prepare('INSERT INTO auth_tokens (token_hash, user, device_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
      countTokens: new Pluck<number>(db, 'SELECT count(*) FROM auth_tokens WHERE user = ? AND device_id = ?'),
      dropOldestTokens: db.prepare(
        `DELETE FROM auth_tokens WHERE token_hash IN
           (SELECT token_hash FROM auth_tokens WHERE user = +? AND device_id = +? ORDER BY created_at LIMIT +?)`,
      ),
      token: db.prepare(
        `SELECT t.user, t.device_id, t.expires_at, d.signing_key FROM auth_tokens t
           JOIN devices d ON d.user = t.user AND d.device_id = t.device_id
         WHERE t.token_hash = +? AND t.expires_at > ?`,
      ),
    };
  }

  async createChallenge(
    c: { hash: Uint8Array; user: string; deviceId: number; createdAt: number; expiresAt: number; requester?: Uint8Array },
    maxOutstanding: number,
  ): Promise<boolean> {
    const requester = c.requester ?? new Uint8Array(0);
    return this.w.run(() => {
      // Checked here, in the write: the device may have been revoked since the caller looked.
      if (!this.s.device.get(c.user, c.deviceId)) return false;
      const n = this.s.countChallenges.get(c.user, c.deviceId, requester) as number;
      if (n >= maxOutstanding) this.s.dropOldestChallenges.run(c.user, c.deviceId, requester, n - maxOutstanding + 1);
      this.s.insertChallenge.run(c.hash, c.user, c.deviceId, c.createdAt, c.expiresAt, requester);
      return true;
    });
  }

  async consumeChallenge(hash: Uint8Array, user: string, deviceId: number, now: number): Promise<boolean> {
    return this.w.run(() => {
      const row = this.s.takeChallenge.get(hash) as { user: string; device_id: number; expires_at: number } | undefined;
      return !!row && row.user === user && row.device_id === deviceId && row.expires_at > now;
    });
  }

  async createToken(
    t: { hash: Uint8Array; user: string; deviceId: number; createdAt: number; expiresAt: number; signingKey?: Uint8Array },
    maxPerDevice: number,
  ): Promise<boolean> {
    return this.w.run(() => {
      // Checked here, in the write: the device may have been revoked (or re-added with new keys)
      // since the caller verified the challenge signature.
      const key = this.s.signingKey.get(t.user, t.deviceId) as Uint8Array | undefined;
      if (!key || (t.signingKey && Buffer.compare(key, t.signingKey) !== 0)) return false;
      const n = this.s.countTokens.get(t.user, t.deviceId) as number;
      if (n >= maxPerDevice) this.s.dropOldestTokens.run(t.user, t.deviceId, n - maxPerDevice + 1);
      this.s.insertToken.run(t.hash, t.user, t.deviceId, t.createdAt, t.expiresAt);
      return true;
    });
  }

  async findToken(hash: Uint8Array, now: number): Promise<TokenRecord | undefined> {
    const row = this.s.token.get(hash, now) as { user: string; device_id: number; expires_at: number; signing_key: Uint8Array } | undefined;
    return row ? { user: row.user, deviceId: row.device_id, expiresAt: row.expires_at, signingKey: row.signing_key } : undefined;
  }
}

class SqliteProvisioning implements ProvisioningRepository {
  private readonly s;
  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    this.s = {
      countOpen: new Pluck<number>(db, 'SELECT count(*) FROM provisioning_channels WHERE expires_at > ?'),
      insert: db.prepare('INSERT INTO provisioning_channels (channel_hash, state, created_at, expires_at) VALUES (?, 0, ?, ?)'),
      put: db.prepare('UPDATE provisioning_channels SET envelope = ?, state = 1 WHERE channel_hash = ? AND state = 0 AND expires_at > ?'),
      get: db.prepare('SELECT state, envelope, expires_at FROM provisioning_channels WHERE channel_hash = ?'),
      consume: db.prepare('UPDATE provisioning_channels SET envelope = NULL, state = 2 WHERE channel_hash = ?'),
    };
  }

  async createChannel(hash: Uint8Array, createdAt: number, expiresAt: number, maxOpen: number): Promise<boolean> {
    return this.w.run(() => {
      if ((this.s.countOpen.get(createdAt) as number) >= maxOpen) return false;
      this.s.insert.run(hash, createdAt, expiresAt);
      return true;
    });
  }

  async putEnvelope(hash: Uint8Array, envelope: Uint8Array, now: number): Promise<PutEnvelopeResult> {
    return this.w.run((): PutEnvelopeResult => {
      if (this.s.put.run(envelope, hash, now).changes === 1) return 'stored';
      const row = this.s.get.get(hash) as { state: number; expires_at: number } | undefined;
      return row && row.expires_at > now ? 'already_set' : 'not_found';
    }, envelope.length);
  }

  async takeEnvelope(hash: Uint8Array, now: number): Promise<TakeEnvelopeResult> {
    // Read first: an empty or unknown channel (the common long-poll case) costs no write.
    const peek = this.s.get.get(hash) as { state: number; envelope: Uint8Array | null; expires_at: number } | undefined;
    if (!peek || peek.expires_at <= now || peek.state === 2) return { status: 'not_found' };
    if (peek.state === 0) return { status: 'empty' };
    return this.w.run((): TakeEnvelopeResult => {
      const row = this.s.get.get(hash) as { state: number; envelope: Uint8Array | null; expires_at: number } | undefined;
      if (!row || row.expires_at <= now || row.state === 2) return { status: 'not_found' };
      if (row.state === 0 || !row.envelope) return { status: 'empty' };
      this.s.consume.run(hash);
      return { status: 'envelope', envelope: row.envelope };
    });
  }
}
