/** SQLite storage of sealed sends (../sealed-types.ts; migration 012). */
import type { DatabaseSync } from 'node:sqlite';
import {
  type DeliveryTokenUpdate,
  SEALED_FROM_DEVICE,
  SEALED_FROM_USER,
  type SealedEnqueue,
  type SealedEnqueueResult,
  type SealedRepository,
} from '../sealed-types.js';
import type { GroupCommit } from './group-commit.js';
import { Pluck } from './pluck.js';

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

export class SqliteSealed implements SealedRepository {
  private readonly s;
  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    this.s = {
      signingKey: new Pluck<Uint8Array>(db, 'SELECT signing_key FROM devices WHERE user = ? AND device_id = ?'),
      deleteOthers: db.prepare('DELETE FROM delivery_tokens WHERE user = ? AND device_id = ? AND verifier <> ?'),
      expireOthers: db.prepare('UPDATE delivery_tokens SET expires_at = min(coalesce(expires_at, ?), ?) WHERE user = ? AND device_id = ? AND verifier <> ?'),
      insert: db.prepare(
        'INSERT INTO delivery_tokens (user, device_id, verifier, created_at, expires_at) VALUES (?, ?, ?, ?, NULL) ON CONFLICT DO UPDATE SET expires_at = NULL',
      ),
      count: new Pluck<number>(db, 'SELECT count(*) FROM delivery_tokens WHERE user = ? AND device_id = ?'),
      dropOldest: db.prepare(
        `DELETE FROM delivery_tokens WHERE (user, device_id, verifier) IN
           (SELECT user, device_id, verifier FROM delivery_tokens WHERE user = +? AND device_id = +? AND expires_at IS NOT NULL ORDER BY created_at LIMIT +?)`,
      ),
      valid: new Pluck<number>(
        db,
        'SELECT 1 FROM delivery_tokens WHERE user = ? AND device_id = ? AND verifier = ? AND (expires_at IS NULL OR expires_at > ?)',
      ),
      version: new Pluck<number>(db, 'SELECT list_version FROM accounts WHERE user = ?'),
      queued: new Pluck<number>(db, 'SELECT queued FROM queue_sizes WHERE user = ? AND device_id = ?'),
      seen: new Pluck<number>(db, 'SELECT 1 FROM sealed_digests WHERE user = ? AND device_id = ? AND digest = ? AND expires_at > ?'),
      insertDigest: db.prepare(
        'INSERT INTO sealed_digests (user, device_id, digest, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET expires_at = excluded.expires_at',
      ),
      insertMessage: db.prepare('INSERT INTO messages (id, user, device_id, from_user, from_device, body, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      countDigests: new Pluck<number>(db, 'SELECT count(*) FROM sealed_digests'),
    };
  }

  async setToken(u: DeliveryTokenUpdate): Promise<boolean> {
    return this.w.run(() => {
      const key = this.s.signingKey.get(u.user, u.deviceId);
      if (!key || !sameBytes(key, u.signingKey)) return false;
      if (u.previousValidUntil === undefined) this.s.deleteOthers.run(u.user, u.deviceId, u.verifier);
      else this.s.expireOthers.run(u.previousValidUntil, u.previousValidUntil, u.user, u.deviceId, u.verifier);
      this.s.insert.run(u.user, u.deviceId, u.verifier, u.createdAt);
      const n = this.s.count.get(u.user, u.deviceId) as number;
      if (n > u.maxPerDevice) this.s.dropOldest.run(u.user, u.deviceId, n - u.maxPerDevice);
      return true;
    });
  }

  async invalidTokens(user: string, checks: readonly { deviceId: number; verifier: Uint8Array }[], now: number): Promise<number[]> {
    return checks.filter((c) => !this.s.valid.get(user, c.deviceId, c.verifier, now)).map((c) => c.deviceId);
  }

  async enqueueSealed(q: SealedEnqueue): Promise<SealedEnqueueResult> {
    return (await this.enqueueSealedMany([q]))[0] as SealedEnqueueResult;
  }

  /** One group-commit operation (one savepoint, one share of an fsync) for all of them. */
  async enqueueSealedMany(qs: readonly SealedEnqueue[]): Promise<SealedEnqueueResult[]> {
    let bytes = 0;
    for (const q of qs) for (const m of q.messages) bytes += m.body.length;
    return this.w.run(() => qs.map((q) => this.enqueueOne(q)), bytes);
  }

  /** Every check before any write: a refused item writes nothing. */
  private enqueueOne(q: SealedEnqueue): SealedEnqueueResult {
    if (this.s.version.get(q.to) !== q.expectedListVersion) return { status: 'stale_list' };
    const bad = q.messages.filter((m) => !this.s.valid.get(q.to, m.deviceId, m.verifier, q.now)).map((m) => m.deviceId);
    if (bad.length > 0) return { status: 'bad_token', deviceIds: bad };
    const replayed = q.messages.filter((m) => this.s.seen.get(q.to, m.deviceId, m.digest, q.now)).map((m) => m.deviceId);
    if (replayed.length > 0) return { status: 'replayed', deviceIds: replayed };
    // queue_sizes is kept by triggers (migration 002), so it counts what earlier items stored.
    const full = q.messages.filter((m) => ((this.s.queued.get(q.to, m.deviceId) as number | undefined) ?? 0) >= q.maxQueued).map((m) => m.deviceId);
    if (full.length > 0) return { status: 'queue_full', deviceIds: full };
    for (const m of q.messages) {
      this.s.insertMessage.run(m.id, q.to, m.deviceId, SEALED_FROM_USER, SEALED_FROM_DEVICE, m.body, q.sentAt);
      this.s.insertDigest.run(q.to, m.deviceId, m.digest, q.digestsUntil);
    }
    return { status: 'stored' };
  }

  async countDigests(): Promise<number> {
    return this.s.countDigests.get() as number;
  }
}
