/**
 * The MLS delivery service in SQLite (groups-types.ts; migrations/014_groups.sql). Writes go
 * through group commit, each check made inside its closure, so a commit for a stale epoch never
 * lands after another commit for the same epoch.
 */
import type { DatabaseSync } from 'node:sqlite';
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
import type { GroupCommit } from './group-commit.js';

type GroupRow = { seq: number; id: Uint8Array; epoch: number };
type MemberRow = { user: string; device_id: number };
type InboxRow = { seq: number; id: Uint8Array; kind: number; epoch: number; body: Uint8Array; created_at: number };
const same = (a: GroupDevice, b: GroupDevice) => a.user === b.user && a.deviceId === b.deviceId;

export class SqliteGroups implements GroupRepository {
  private readonly s;

  constructor(
    db: DatabaseSync,
    private readonly w: GroupCommit,
  ) {
    // `= +?` where a statement sorts: SQLite otherwise re-prepares it each run (sqlite-files.ts).
    this.s = {
      byId: db.prepare('SELECT seq, id, epoch FROM mls_groups WHERE id = ?'),
      members: db.prepare('SELECT user, device_id FROM mls_group_members WHERE grp = +? ORDER BY user, device_id'),
      isMember: db.prepare('SELECT 1 AS x FROM mls_group_members WHERE grp = ? AND user = ? AND device_id = ?'),
      mine: db.prepare(
        'SELECT g.seq, g.id, g.epoch FROM mls_group_members m JOIN mls_groups g ON g.seq = m.grp WHERE m.user = +? AND m.device_id = +? ORDER BY g.id',
      ),
      device: db.prepare('SELECT 1 AS x FROM devices WHERE user = ? AND device_id = ?'),
      devicesOf: db.prepare('SELECT device_id FROM devices WHERE user = +? ORDER BY device_id'),
      insertGroup: db.prepare('INSERT INTO mls_groups (id, epoch, created_at, updated_at) VALUES (?, 0, ?, ?)'),
      setEpoch: db.prepare('UPDATE mls_groups SET epoch = ?, updated_at = ? WHERE seq = ?'),
      insertMember: db.prepare('INSERT OR IGNORE INTO mls_group_members (grp, user, device_id) VALUES (?, ?, ?)'),
      deleteMember: db.prepare('DELETE FROM mls_group_members WHERE grp = ? AND user = ? AND device_id = ?'),
      deleteUserMembers: db.prepare('DELETE FROM mls_group_members WHERE grp = ? AND user = ?'),
      insertMessage: db.prepare('INSERT INTO mls_messages (grp, kind, epoch, body, created_at) VALUES (?, ?, ?, ?, ?) RETURNING seq'),
      enqueue: db.prepare('INSERT OR IGNORE INTO mls_queue (user, device_id, msg) VALUES (?, ?, ?)'),
      inbox: db.prepare(
        `SELECT m.seq, g.id, m.kind, m.epoch, m.body, m.created_at FROM mls_queue q
         JOIN mls_messages m ON m.seq = q.msg JOIN mls_groups g ON g.seq = m.grp
         WHERE q.user = +? AND q.device_id = +? AND q.msg > +? ORDER BY q.msg LIMIT +?`,
      ),
      ackRefs: db.prepare('DELETE FROM mls_queue WHERE user = ? AND device_id = ? AND msg <= ? RETURNING msg'),
      dropUnreferenced: db.prepare('DELETE FROM mls_messages WHERE seq = ? AND NOT EXISTS (SELECT 1 FROM mls_queue WHERE msg = ?)'),
      countKp: db.prepare('SELECT count(*) AS n FROM mls_key_packages WHERE user = ? AND device_id = ? AND last_resort = 0'),
      insertKp: db.prepare('INSERT INTO mls_key_packages (user, device_id, last_resort, body) VALUES (?, ?, ?, ?)'),
      deleteLastResort: db.prepare('DELETE FROM mls_key_packages WHERE user = ? AND device_id = ? AND last_resort = 1'),
      takeKp: db.prepare('SELECT seq, last_resort, body FROM mls_key_packages WHERE user = +? AND device_id = +? ORDER BY last_resort, seq LIMIT 1'),
      deleteKp: db.prepare('DELETE FROM mls_key_packages WHERE seq = ?'),
    };
  }

  private membersOf(seq: number): GroupDevice[] {
    return (this.s.members.all(seq) as MemberRow[]).map((r) => ({ user: r.user, deviceId: r.device_id }));
  }
  private info(row: GroupRow): GroupInfo {
    return { id: row.id, epoch: row.epoch, members: this.membersOf(row.seq) };
  }
  private isMember(seq: number, d: GroupDevice): boolean {
    return this.s.isMember.get(seq, d.user, d.deviceId) !== undefined;
  }

  async putKeyPackages(device: GroupDevice, oneTime: readonly Uint8Array[], lastResort: Uint8Array | undefined, maxOneTime: number) {
    const bytes = oneTime.reduce((n, b) => n + b.length, lastResort?.length ?? 0);
    return this.w.run((): 'stored' | 'too_many' => {
      const { n } = this.s.countKp.get(device.user, device.deviceId) as { n: number };
      if (n + oneTime.length > maxOneTime) return 'too_many';
      for (const b of oneTime) this.s.insertKp.run(device.user, device.deviceId, 0, b);
      if (lastResort) {
        this.s.deleteLastResort.run(device.user, device.deviceId);
        this.s.insertKp.run(device.user, device.deviceId, 1, lastResort);
      }
      return 'stored';
    }, bytes);
  }

  async countKeyPackages(device: GroupDevice): Promise<number> {
    return (this.s.countKp.get(device.user, device.deviceId) as { n: number }).n;
  }

  async claimKeyPackages(user: string, devices?: readonly number[]): Promise<ClaimedKeyPackage[]> {
    return this.w.run(() => {
      const out: ClaimedKeyPackage[] = [];
      for (const { device_id } of this.s.devicesOf.all(user) as { device_id: number }[]) {
        if (devices && !devices.includes(device_id)) continue;
        const kp = this.s.takeKp.get(user, device_id) as { seq: number; last_resort: number; body: Uint8Array } | undefined;
        if (!kp) continue;
        if (kp.last_resort === 0) this.s.deleteKp.run(kp.seq);
        out.push({ deviceId: device_id, keyPackage: kp.body });
      }
      return out;
    });
  }

  async create(id: Uint8Array, creator: GroupDevice, now: number): Promise<'created' | 'id_taken'> {
    return this.w.run(() => {
      if (this.s.byId.get(id)) return 'id_taken';
      this.s.insertGroup.run(id, now, now);
      const row = this.s.byId.get(id) as GroupRow;
      this.s.insertMember.run(row.seq, creator.user, creator.deviceId);
      return 'created';
    });
  }

  async get(id: Uint8Array, asMember: GroupDevice): Promise<GroupInfo | undefined> {
    const row = this.s.byId.get(id) as GroupRow | undefined;
    if (!row || !this.isMember(row.seq, asMember)) return undefined;
    return this.info(row);
  }

  async listFor(device: GroupDevice): Promise<GroupInfo[]> {
    return (this.s.mine.all(device.user, device.deviceId) as GroupRow[]).map((r) => this.info(r));
  }

  async commit(c: NewCommit): Promise<GroupWriteResult> {
    return this.w.run(
      (): GroupWriteResult => {
        const row = this.s.byId.get(c.group) as GroupRow | undefined;
        if (!row || !this.isMember(row.seq, c.sender)) return { status: 'not_found' };
        if (row.epoch !== c.epoch) return { status: 'stale_epoch', epoch: row.epoch };
        if (!c.members.every((d) => this.s.device.get(d.user, d.deviceId))) return { status: 'unknown_device' };
        const before = this.membersOf(row.seq);
        const epoch = row.epoch + 1;
        this.s.setEpoch.run(epoch, c.now, row.seq);
        for (const d of deviceDiff(before, c.members)) this.s.deleteMember.run(row.seq, d.user, d.deviceId);
        for (const d of c.members) this.s.insertMember.run(row.seq, d.user, d.deviceId);
        // The commit goes to every device that was or is a member (removed ones learn of it), except
        // the sender and the added devices, which get the Welcome instead.
        const commitTo = deviceDiff([...before, ...deviceDiff(c.members, before)], [c.sender, ...c.added]);
        const { seq } = this.s.insertMessage.get(row.seq, GROUP_MESSAGE_KIND.commit, c.epoch, c.commit, c.now) as { seq: number };
        for (const d of commitTo) this.s.enqueue.run(d.user, d.deviceId, seq);
        if (c.welcome && c.added.length > 0) {
          const w = this.s.insertMessage.get(row.seq, GROUP_MESSAGE_KIND.welcome, epoch, c.welcome, c.now) as { seq: number };
          for (const d of c.added) this.s.enqueue.run(d.user, d.deviceId, w.seq);
        }
        return { status: 'stored', epoch, recipients: [...commitTo, ...c.added] };
      },
      c.commit.length + (c.welcome?.length ?? 0),
    );
  }

  async post(m: NewGroupMessage): Promise<GroupWriteResult> {
    return this.w.run((): GroupWriteResult => {
      const row = this.s.byId.get(m.group) as GroupRow | undefined;
      if (!row || !this.isMember(row.seq, m.sender)) return { status: 'not_found' };
      if (row.epoch !== m.epoch) return { status: 'stale_epoch', epoch: row.epoch };
      const to = this.membersOf(row.seq).filter((d) => !same(d, m.sender) && !(m.leave && d.user === m.sender.user));
      const { seq } = this.s.insertMessage.get(row.seq, GROUP_MESSAGE_KIND[m.kind], m.epoch, m.body, m.now) as { seq: number };
      for (const d of to) this.s.enqueue.run(d.user, d.deviceId, seq);
      if (m.leave) this.s.deleteUserMembers.run(row.seq, m.sender.user);
      return { status: 'stored', epoch: row.epoch, recipients: to };
    }, m.body.length);
  }

  async inbox(device: GroupDevice, after: number, limit: number): Promise<InboxItem[]> {
    return (this.s.inbox.all(device.user, device.deviceId, after, limit) as InboxRow[]).map((r) => ({
      seq: r.seq,
      group: r.id,
      kind: kindName(r.kind),
      epoch: r.epoch,
      body: r.body,
      sentAt: r.created_at,
    }));
  }

  async ack(device: GroupDevice, upTo: number): Promise<number> {
    return this.w.run(() => {
      const acked = this.s.ackRefs.all(device.user, device.deviceId, upTo) as { msg: number }[];
      for (const { msg } of acked) this.s.dropUnreferenced.run(msg, msg);
      return acked.length;
    });
  }
}
