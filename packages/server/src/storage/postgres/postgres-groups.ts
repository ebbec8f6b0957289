/**
 * The MLS delivery service in PostgreSQL (groups-types.ts; migrations/014_groups.sql). Each write
 * is one transaction that first locks the group row (`FOR UPDATE`), so commits for one group
 * serialise across relay instances and exactly one commit per epoch lands. KeyPackages are
 * claimed with `FOR UPDATE SKIP LOCKED`, so one is never handed out twice.
 */
import type pg from 'pg';
import {
  type ClaimedKeyPackage,
  deviceDiff,
  GROUP_MESSAGE_KIND,
  type GroupDevice,
  type GroupInfo,
  type GroupRepository,
  type GroupWriteResult,
  type InboxItem,
  kindName,
  type NewCommit,
  type NewGroupMessage,
} from '../groups-types.js';

export interface PgGroupQueries {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[], name?: string): Promise<pg.QueryResult<R>>;
  tx<T>(f: (c: pg.ClientBase) => Promise<T>): Promise<T>;
}
type Q = { query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> };
type GroupRow = { seq: string; id: Buffer; epoch: string };
const bytes = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
const same = (a: GroupDevice, b: GroupDevice) => a.user === b.user && a.deviceId === b.deviceId;

async function membersOf(c: Q, seq: string): Promise<GroupDevice[]> {
  const r = await c.query<{ user_name: string; device_id: string }>(
    'SELECT user_name, device_id FROM mls_group_members WHERE grp = $1 ORDER BY user_name, device_id',
    [seq],
  );
  return r.rows.map((x) => ({ user: x.user_name, deviceId: Number(x.device_id) }));
}
async function isMember(c: Q, seq: string, d: GroupDevice): Promise<boolean> {
  const r = await c.query('SELECT 1 FROM mls_group_members WHERE grp = $1 AND user_name = $2 AND device_id = $3', [seq, d.user, d.deviceId]);
  return r.rows.length > 0;
}
async function lockGroup(c: Q, id: Uint8Array): Promise<GroupRow | undefined> {
  return (await c.query<GroupRow>('SELECT seq, id, epoch FROM mls_groups WHERE id = $1 FOR UPDATE', [id])).rows[0];
}
async function enqueue(c: Q, devices: readonly GroupDevice[], msg: string): Promise<void> {
  if (devices.length === 0) return;
  await c.query('INSERT INTO mls_queue (user_name, device_id, msg) SELECT u, d, $3 FROM unnest($1::text[], $2::bigint[]) AS t(u, d) ON CONFLICT DO NOTHING', [
    devices.map((d) => d.user),
    devices.map((d) => d.deviceId),
    msg,
  ]);
}
async function insertMessage(c: Q, grp: string, kind: number, epoch: number, body: Uint8Array, now: number): Promise<string> {
  const r = await c.query<{ seq: string }>('INSERT INTO mls_messages (grp, kind, epoch, body, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING seq', [
    grp,
    kind,
    epoch,
    body,
    now,
  ]);
  return (r.rows[0] as { seq: string }).seq;
}

export class PostgresGroups implements GroupRepository {
  constructor(private readonly db: PgGroupQueries) {}

  async putKeyPackages(device: GroupDevice, oneTime: readonly Uint8Array[], lastResort: Uint8Array | undefined, maxOneTime: number) {
    return this.db.tx(async (c): Promise<'stored' | 'too_many'> => {
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [0x6d_6c_73_6b, `${device.user}:${device.deviceId}`]);
      const n = await this.count(c, device);
      if (n + oneTime.length > maxOneTime) return 'too_many';
      for (const b of oneTime)
        await c.query('INSERT INTO mls_key_packages (user_name, device_id, last_resort, body) VALUES ($1, $2, 0, $3)', [device.user, device.deviceId, b]);
      if (lastResort) {
        await c.query('DELETE FROM mls_key_packages WHERE user_name = $1 AND device_id = $2 AND last_resort = 1', [device.user, device.deviceId]);
        await c.query('INSERT INTO mls_key_packages (user_name, device_id, last_resort, body) VALUES ($1, $2, 1, $3)', [
          device.user,
          device.deviceId,
          lastResort,
        ]);
      }
      return 'stored';
    });
  }

  private async count(c: Q, device: GroupDevice): Promise<number> {
    const r = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM mls_key_packages WHERE user_name = $1 AND device_id = $2 AND last_resort = 0', [
      device.user,
      device.deviceId,
    ]);
    return (r.rows[0] as { n: number }).n;
  }

  async countKeyPackages(device: GroupDevice): Promise<number> {
    return this.count(this.db, device);
  }

  async claimKeyPackages(user: string, devices?: readonly number[]): Promise<ClaimedKeyPackage[]> {
    return this.db.tx(async (c) => {
      const ids = (await c.query<{ device_id: string }>('SELECT device_id FROM devices WHERE user_name = $1 ORDER BY device_id', [user])).rows.map((r) =>
        Number(r.device_id),
      );
      const out: ClaimedKeyPackage[] = [];
      for (const id of ids) {
        if (devices && !devices.includes(id)) continue;
        const kp = (
          await c.query<{ seq: string; last_resort: string; body: Buffer }>(
            'SELECT seq, last_resort, body FROM mls_key_packages WHERE user_name = $1 AND device_id = $2 ORDER BY last_resort, seq LIMIT 1 FOR UPDATE SKIP LOCKED',
            [user, id],
          )
        ).rows[0];
        if (!kp) continue;
        if (Number(kp.last_resort) === 0) await c.query('DELETE FROM mls_key_packages WHERE seq = $1', [kp.seq]);
        out.push({ deviceId: id, keyPackage: bytes(kp.body) });
      }
      return out;
    });
  }

  async create(id: Uint8Array, creator: GroupDevice, now: number): Promise<'created' | 'id_taken'> {
    return this.db.tx(async (c) => {
      const r = await c.query<{ seq: string }>(
        'INSERT INTO mls_groups (id, epoch, created_at, updated_at) VALUES ($1, 0, $2, $2) ON CONFLICT (id) DO NOTHING RETURNING seq',
        [id, now],
      );
      const row = r.rows[0];
      if (!row) return 'id_taken';
      await c.query('INSERT INTO mls_group_members (grp, user_name, device_id) VALUES ($1, $2, $3)', [row.seq, creator.user, creator.deviceId]);
      return 'created';
    });
  }

  async get(id: Uint8Array, asMember: GroupDevice): Promise<GroupInfo | undefined> {
    const row = (await this.db.query<GroupRow>('SELECT seq, id, epoch FROM mls_groups WHERE id = $1', [id])).rows[0];
    if (!row || !(await isMember(this.db, row.seq, asMember))) return undefined;
    return { id: bytes(row.id), epoch: Number(row.epoch), members: await membersOf(this.db, row.seq) };
  }

  async listFor(device: GroupDevice): Promise<GroupInfo[]> {
    const rows = (
      await this.db.query<GroupRow>(
        'SELECT g.seq, g.id, g.epoch FROM mls_group_members m JOIN mls_groups g ON g.seq = m.grp WHERE m.user_name = $1 AND m.device_id = $2 ORDER BY g.id',
        [device.user, device.deviceId],
      )
    ).rows;
    const out: GroupInfo[] = [];
    for (const r of rows) out.push({ id: bytes(r.id), epoch: Number(r.epoch), members: await membersOf(this.db, r.seq) });
    return out;
  }

  async commit(n: NewCommit): Promise<GroupWriteResult> {
    return this.db.tx(async (c): Promise<GroupWriteResult> => {
      const row = await lockGroup(c, n.group);
      if (!row || !(await isMember(c, row.seq, n.sender))) return { status: 'not_found' };
      if (Number(row.epoch) !== n.epoch) return { status: 'stale_epoch', epoch: Number(row.epoch) };
      const known = await c.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM devices d JOIN unnest($1::text[], $2::bigint[]) AS t(u, i) ON d.user_name = t.u AND d.device_id = t.i',
        [n.members.map((d) => d.user), n.members.map((d) => d.deviceId)],
      );
      if ((known.rows[0] as { n: number }).n !== n.members.length) return { status: 'unknown_device' };
      const before = await membersOf(c, row.seq);
      const epoch = n.epoch + 1;
      await c.query('UPDATE mls_groups SET epoch = $1, updated_at = $2 WHERE seq = $3', [epoch, n.now, row.seq]);
      await c.query('DELETE FROM mls_group_members WHERE grp = $1', [row.seq]);
      await c.query(
        'INSERT INTO mls_group_members (grp, user_name, device_id) SELECT $1, u, d FROM unnest($2::text[], $3::bigint[]) AS t(u, d) ON CONFLICT DO NOTHING',
        [row.seq, n.members.map((d) => d.user), n.members.map((d) => d.deviceId)],
      );
      const commitTo = deviceDiff([...before, ...deviceDiff(n.members, before)], [n.sender, ...n.added]);
      const msg = await insertMessage(c, row.seq, GROUP_MESSAGE_KIND.commit, n.epoch, n.commit, n.now);
      await enqueue(c, commitTo, msg);
      if (n.welcome && n.added.length > 0) await enqueue(c, n.added, await insertMessage(c, row.seq, GROUP_MESSAGE_KIND.welcome, epoch, n.welcome, n.now));
      return { status: 'stored', epoch, recipients: [...commitTo, ...n.added] };
    });
  }

  async post(m: NewGroupMessage): Promise<GroupWriteResult> {
    return this.db.tx(async (c): Promise<GroupWriteResult> => {
      const row = await lockGroup(c, m.group);
      if (!row || !(await isMember(c, row.seq, m.sender))) return { status: 'not_found' };
      if (Number(row.epoch) !== m.epoch) return { status: 'stale_epoch', epoch: Number(row.epoch) };
      const to = (await membersOf(c, row.seq)).filter((d) => !same(d, m.sender) && !(m.leave && d.user === m.sender.user));
      await enqueue(c, to, await insertMessage(c, row.seq, GROUP_MESSAGE_KIND[m.kind], m.epoch, m.body, m.now));
      if (m.leave) await c.query('DELETE FROM mls_group_members WHERE grp = $1 AND user_name = $2', [row.seq, m.sender.user]);
      return { status: 'stored', epoch: m.epoch, recipients: to };
    });
  }

  async inbox(device: GroupDevice, after: number, limit: number): Promise<InboxItem[]> {
    const r = await this.db.query<{ seq: string; id: Buffer; kind: string; epoch: string; body: Buffer; created_at: string }>(
      `SELECT m.seq, g.id, m.kind, m.epoch, m.body, m.created_at FROM mls_queue q
       JOIN mls_messages m ON m.seq = q.msg JOIN mls_groups g ON g.seq = m.grp
       WHERE q.user_name = $1 AND q.device_id = $2 AND q.msg > $3 ORDER BY q.msg LIMIT $4`,
      [device.user, device.deviceId, after, limit],
    );
    return r.rows.map((x) => ({
      seq: Number(x.seq),
      group: bytes(x.id),
      kind: kindName(Number(x.kind)),
      epoch: Number(x.epoch),
      body: bytes(x.body),
      sentAt: Number(x.created_at),
    }));
  }

  async ack(device: GroupDevice, upTo: number): Promise<number> {
    return this.db.tx(async (c) => {
      const acked = await c.query<{ msg: string }>('DELETE FROM mls_queue WHERE user_name = $1 AND device_id = $2 AND msg <= $3 RETURNING msg', [
        device.user,
        device.deviceId,
        upTo,
      ]);
      const ids = acked.rows.map((r) => r.msg);
      if (ids.length > 0)
        await c.query('DELETE FROM mls_messages m WHERE m.seq = ANY($1::bigint[]) AND NOT EXISTS (SELECT 1 FROM mls_queue q WHERE q.msg = m.seq)', [ids]);
      return ids.length;
    });
  }
}
