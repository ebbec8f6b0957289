/**
 * Group commit (src/storage/sqlite/group-commit.ts): concurrent writes share one transaction and
 * one fsync, each in its own savepoint; a failing write rolls back alone; nothing is reported
 * before it is committed; close() commits what is queued; atomic operations stay atomic.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteStorage } from '../src/index.js';
import { type CommitInfo, GroupCommit, type GroupCommitOptions } from '../src/storage/sqlite/group-commit.js';
import { loadMigrations, migrate } from '../src/storage/sqlite/migrate.js';
import type { Storage } from '../src/storage/types.js';
import { Api, account, b64, login, newUser, register, startTestServer, type TestServer, unb64 } from './helpers.js';

const key = (fill: number) => new Uint8Array(32).fill(fill);
const LIMITS = { maxStoredOneTime: 100 };

function open(dataDir: string, groupCommit: GroupCommitOptions = {}) {
  const commits: CommitInfo[] = [];
  const storage = openSqliteStorage({
    dataDir,
    now: () => 1,
    groupCommit: {
      ...groupCommit,
      onCommit: (c) => {
        commits.push(c);
        groupCommit.onCommit?.(c);
      },
    },
  });
  return { storage, commits };
}

async function createUser(storage: Storage, user: string, deviceId = 1, opks = 0) {
  const r = await storage.accounts.create(
    {
      user,
      masterKey: key(1),
      listVersion: 1,
      deviceList: new Uint8Array([1, 2, 3]),
      device: { deviceId, signingKey: key(2), identityKey: key(3) },
      prekeys: {
        signedPreKey: { id: 1, publicKey: key(4), signature: new Uint8Array(64) },
        lastResortPqPreKey: { id: 2, publicKey: key(5), signature: new Uint8Array(64) },
        oneTimePreKeys: Array.from({ length: opks }, (_, i) => ({ id: 100 + i, publicKey: key(6) })),
      },
      createdAt: 1,
    },
    LIMITS,
  );
  expect(r).toBe('created');
}

const enqueue = (storage: Storage, to: string, body: Uint8Array, id: Uint8Array = randomBytes(16), deviceId = 1, maxQueued = 10_000) =>
  storage.mailboxes.enqueue({
    to,
    expectedListVersion: 1,
    fromUser: 'alice',
    fromDevice: 1,
    sentAt: 1,
    messages: [{ id, deviceId, body }],
    maxQueued,
  });

describe('group commit in the SQLite store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'blindrelay-group-commit-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs concurrent writes in one transaction, at most maxOperations per commit', async () => {
    const { storage, commits } = open(join(dir, 'data'));
    await createUser(storage, 'bob');
    commits.length = 0;
    const first = await Promise.all(Array.from({ length: 200 }, (_, i) => enqueue(storage, 'bob', new Uint8Array([i]))));
    expect(first.every((r) => r.status === 'stored')).toBe(true);
    expect(commits.map((c) => c.operations)).toEqual([200]);
    commits.length = 0;
    await Promise.all(Array.from({ length: 600 }, (_, i) => enqueue(storage, 'bob', new Uint8Array([i]))));
    expect(commits.map((c) => c.operations)).toEqual([256, 256, 88]);
    expect(commits.every((c) => c.committed && c.failed === 0)).toBe(true);
    expect(await storage.mailboxes.countAll()).toBe(800);
    await storage.close();
  });

  it('bounds a batch by declared bytes too (the first operation always goes)', async () => {
    const { storage, commits } = open(join(dir, 'data'), { maxBytes: 1000 });
    await createUser(storage, 'bob');
    commits.length = 0;
    await Promise.all([enqueue(storage, 'bob', new Uint8Array(5000)), ...Array.from({ length: 4 }, () => enqueue(storage, 'bob', new Uint8Array(400)))]);
    expect(commits.map((c) => c.operations)).toEqual([1, 2, 2]);
    await storage.close();
  });

  it('settles a write only after its COMMIT: another connection already sees it', async () => {
    const dataDir = join(dir, 'data');
    const events: string[] = [];
    const { storage } = open(dataDir, { onCommit: () => events.push('commit') });
    await createUser(storage, 'bob');
    events.length = 0;
    const other = new DatabaseSync(join(dataDir, 'relay.db'), { readOnly: true });
    const visible = other.prepare('SELECT count(*) AS n FROM messages WHERE id = ?');
    try {
      const ids = Array.from({ length: 20 }, () => randomBytes(16));
      await Promise.all(
        ids.map((id) =>
          enqueue(storage, 'bob', new Uint8Array([1]), id).then(() => {
            events.push('resolved');
            expect(visible.get(id)?.n).toBe(1);
          }),
        ),
      );
      expect(events).toEqual(['commit', ...ids.map(() => 'resolved')]);
    } finally {
      other.close();
      await storage.close();
    }
  });

  it('rolls a failing write back alone: the others of its batch commit, only its promise rejects', async () => {
    const { storage, commits } = open(join(dir, 'data'));
    await createUser(storage, 'bob');
    commits.length = 0;
    const dup = randomBytes(16);
    await enqueue(storage, 'bob', new Uint8Array([0]), dup);
    commits.length = 0;
    const before = enqueue(storage, 'bob', new Uint8Array([1]));
    // Two messages, the second a duplicate id: the first row must be rolled back with it.
    const failing = storage.mailboxes.enqueue({
      to: 'bob',
      expectedListVersion: 1,
      fromUser: 'alice',
      fromDevice: 1,
      sentAt: 1,
      messages: [
        { id: randomBytes(16), deviceId: 1, body: new Uint8Array([2]) },
        { id: dup, deviceId: 1, body: new Uint8Array([3]) },
      ],
      maxQueued: 100,
    });
    // Account creation throws after inserting the account and device rows (too many prekeys).
    const badAccount = storage.accounts.create(
      {
        user: 'carol',
        masterKey: key(1),
        listVersion: 1,
        deviceList: new Uint8Array([1]),
        device: { deviceId: 7, signingKey: key(2), identityKey: key(3) },
        prekeys: { oneTimePreKeys: Array.from({ length: 101 }, (_, i) => ({ id: i, publicKey: key(6) })) },
        createdAt: 1,
      },
      LIMITS,
    );
    const after = enqueue(storage, 'bob', new Uint8Array([4]));
    const results = await Promise.allSettled([before, failing, badAccount, after]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/UNIQUE/);
    expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/too_many/);
    expect(commits).toHaveLength(1);
    expect(commits[0]).toMatchObject({ operations: 4, failed: 2, committed: true });
    const bodies = (await storage.mailboxes.fetch('bob', 1, { limit: 100 })).map((m) => m.body[0]);
    expect(bodies).toEqual([0, 1, 4]);
    expect(await storage.accounts.get('carol')).toBeUndefined();
    expect(await storage.accounts.getDevice('carol', 7)).toBeUndefined();
    // The queue counter (triggers) was rolled back with its savepoint too.
    expect(await storage.mailboxes.countAll()).toBe(3);
    await storage.close();
  });

  it('keeps one-time prekey consumption unique when many claims share a batch', async () => {
    const { storage, commits } = open(join(dir, 'data'));
    await createUser(storage, 'bob', 1, 30);
    commits.length = 0;
    const claims = await Promise.all(Array.from({ length: 100 }, () => storage.prekeys.claim('bob', [1])));
    expect(commits).toHaveLength(1);
    const handed = claims.flatMap((c) => (c[0]?.status === 'claimed' && c[0].oneTimePreKey ? [c[0].oneTimePreKey.id] : []));
    expect(handed).toHaveLength(30);
    expect(new Set(handed).size).toBe(30);
    // Each claim saw the ones before it: the remaining counts step down without repeats.
    const remaining = claims.map((c) => (c[0]?.status === 'claimed' ? c[0].remaining.oneTimePreKeys : -1));
    expect(remaining.slice(0, 31)).toEqual(Array.from({ length: 31 }, (_, i) => Math.max(0, 29 - i)));
    expect((await storage.prekeys.status('bob', 1)).oneTimePreKeys).toBe(0);
    await storage.close();
  });

  it('later writes of a batch see the effects of earlier ones (upload, then claim)', async () => {
    const { storage, commits } = open(join(dir, 'data'));
    await createUser(storage, 'bob');
    commits.length = 0;
    const upload = storage.prekeys.upload('bob', 1, { oneTimePreKeys: [{ id: 9, publicKey: key(9) }] }, LIMITS);
    const claim = storage.prekeys.claim('bob', [1]);
    expect(await upload).toEqual({ status: 'stored' });
    const [c] = await claim;
    expect(c?.status === 'claimed' && c.oneTimePreKey?.id).toBe(9);
    expect(commits).toHaveLength(1);
    await storage.close();
  });

  it('writes re-check, inside the batch, what the caller read before queueing them', async () => {
    const { storage } = open(join(dir, 'data'));
    await createUser(storage, 'bob');
    const oldKey = key(2);
    expect(await storage.accounts.getDevice('bob', 1)).toBeDefined();
    // Queued behind a revocation that re-adds device 1 with new keys, in the same batch.
    const revoke = storage.accounts.replaceDeviceList(
      {
        user: 'bob',
        expectedVersion: 1,
        listVersion: 2,
        deviceList: new Uint8Array([2]),
        devices: [{ deviceId: 1, signingKey: key(8), identityKey: key(9) }],
        updatedAt: 2,
      },
      LIMITS,
    );
    const token = { hash: key(10), user: 'bob', deviceId: 1, createdAt: 1, expiresAt: 100, signingKey: oldKey };
    const staleToken = storage.auth.createToken(token, 5);
    const staleUpload = storage.prekeys.upload('bob', 1, { oneTimePreKeys: [{ id: 1, publicKey: key(7) }] }, LIMITS, oldKey);
    const staleMessage = enqueue(storage, 'bob', new Uint8Array([1]));
    const goneChallenge = storage.auth.createChallenge({ hash: key(11), user: 'bob', deviceId: 2, createdAt: 1, expiresAt: 100 }, 5);
    expect(await revoke).toEqual({ status: 'updated', revoked: [1] });
    expect(await staleToken).toBe(false);
    expect(await staleUpload).toEqual({ status: 'unknown_device' });
    expect(await staleMessage).toEqual({ status: 'stale_list' });
    expect(await goneChallenge).toBe(false);
    expect(await storage.auth.findToken(key(10), 2)).toBeUndefined();
    expect(await storage.auth.createToken({ ...token, signingKey: key(8) }, 5)).toBe(true);
    // With the re-keyed device's signing key, read with the token.
    expect(await storage.auth.findToken(key(10), 2)).toEqual({ user: 'bob', deviceId: 1, expiresAt: 100, signingKey: key(8) });
    await storage.close();
  });

  it('close() commits what is queued, then refuses writes', async () => {
    const dataDir = join(dir, 'data');
    const { storage } = open(dataDir);
    await createUser(storage, 'bob');
    const pending = Array.from({ length: 10 }, (_, i) => enqueue(storage, 'bob', new Uint8Array([i])));
    await storage.close();
    expect((await Promise.all(pending)).every((r) => r.status === 'stored')).toBe(true);
    await expect(enqueue(storage, 'bob', new Uint8Array([1]))).rejects.toThrow(/closed/);
    const again = openSqliteStorage({ dataDir, now: () => 1 });
    expect(await again.mailboxes.countAll()).toBe(10);
    await again.close();
  });

  it('caps queues with the trigger-kept counter, which follows acks and revocation', async () => {
    const { storage } = open(join(dir, 'data'));
    await createUser(storage, 'bob');
    const ids = Array.from({ length: 3 }, () => randomBytes(16));
    for (const id of ids) expect(await enqueue(storage, 'bob', new Uint8Array([1]), id, 1, 3)).toEqual({ status: 'stored' });
    expect(await enqueue(storage, 'bob', new Uint8Array([1]), randomBytes(16), 1, 3)).toEqual({ status: 'queue_full', deviceIds: [1] });
    expect(await storage.mailboxes.ack('bob', 1, [ids[0] as Uint8Array])).toBe(1);
    expect(await enqueue(storage, 'bob', new Uint8Array([1]), randomBytes(16), 1, 3)).toEqual({ status: 'stored' });
    expect(await storage.mailboxes.countAll()).toBe(3);
    // Revoke device 1 (cascade deletes its queue), add it back with new keys: an empty queue.
    const r = await storage.accounts.replaceDeviceList(
      {
        user: 'bob',
        expectedVersion: 1,
        listVersion: 2,
        deviceList: new Uint8Array([2]),
        devices: [{ deviceId: 1, signingKey: key(8), identityKey: key(9) }],
        updatedAt: 2,
      },
      LIMITS,
    );
    expect(r).toEqual({ status: 'updated', revoked: [1] });
    expect(await storage.mailboxes.countAll()).toBe(0);
    await storage.close();
  });

  it('migration 002 counts the queues of an existing database', async () => {
    // A version-1 database holding queued messages.
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { recursive: true });
    const db = new DatabaseSync(join(dataDir, 'relay.db'));
    migrate(db, 1, loadMigrations().slice(0, 1));
    db.prepare("INSERT INTO accounts VALUES ('bob', ?, 1, x'01', 1, 1)").run(key(1));
    db.prepare("INSERT INTO devices VALUES ('bob', 1, ?, ?), ('bob', 2, ?, ?)").run(key(2), key(3), key(4), key(5));
    const ins = db.prepare("INSERT INTO messages (id, user, device_id, from_user, from_device, body, sent_at) VALUES (?, 'bob', ?, 'a', 1, x'00', 1)");
    for (let i = 0; i < 5; i++) ins.run(randomBytes(16), 1);
    ins.run(randomBytes(16), 2);
    db.close();
    const s = openSqliteStorage({ dataDir, now: () => 2 });
    expect(await s.mailboxes.countAll()).toBe(6);
    expect(await enqueue(s, 'bob', new Uint8Array([1]), randomBytes(16), 1, 5)).toEqual({ status: 'queue_full', deviceIds: [1] });
    expect(await enqueue(s, 'bob', new Uint8Array([1]), randomBytes(16), 2, 5)).toEqual({ status: 'stored' });
    await s.close();
  });
});

describe('GroupCommit on its own', () => {
  let dir: string;
  let db: DatabaseSync;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'blindrelay-group-commit-unit-'));
    db = new DatabaseSync(join(dir, 'x.db'));
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA foreign_keys = ON');
    db.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE t (x INTEGER, p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)');
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const rows = () =>
    db
      .prepare('SELECT x FROM t ORDER BY x')
      .all()
      .map((r) => r.x);

  it('when SQLite abandons the transaction, rejects what ran and retries what had not', async () => {
    const commits: CommitInfo[] = [];
    const w = new GroupCommit(db, { onCommit: (c) => commits.push(c) });
    const insert = db.prepare('INSERT INTO t (x) VALUES (?)');
    const a = w.run(() => insert.run(1));
    const b = w.run(() => db.exec('ROLLBACK')); // as an I/O error or a full disk would
    const c = w.run(() => insert.run(3).changes);
    const results = await Promise.allSettled([a, b, c]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    expect(rows()).toEqual([3]);
    expect(commits.map((x) => [x.operations, x.committed])).toEqual([
      [2, false],
      [1, true],
    ]);
    expect(db.isTransaction).toBe(false);
  });

  it('when COMMIT fails, rejects the whole batch and leaves no transaction open', async () => {
    const w = new GroupCommit(db);
    const insert = db.prepare('INSERT INTO t (x, p) VALUES (?, ?)');
    const ok = w.run(() => insert.run(1, null));
    const orphan = w.run(() => insert.run(2, 42)); // deferred foreign key: fails at COMMIT
    const results = await Promise.allSettled([ok, orphan]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/FOREIGN KEY/);
    expect(db.isTransaction).toBe(false);
    expect(rows()).toEqual([]);
    expect(await w.run(() => insert.run(3, null).changes)).toBe(1);
    expect(rows()).toEqual([3]);
  });
});

describe('group commit through the relay', () => {
  let t: TestServer;
  beforeEach(async () => {
    t = await startTestServer();
  });
  afterEach(async () => {
    await t.close();
  });

  const commitsSoFar = async () => {
    const text = await (await fetch(t.server.metricsUrl as string)).text();
    return [...text.matchAll(/^blindrelay_storage_commits_total\{[^}]*\} (\d+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
  };

  /** Opens a connection per request, then writes each request at once; resolves with the statuses. */
  async function burst(requests: string[]): Promise<number[]> {
    const { port } = new URL(t.url);
    const http = t.server.app.server;
    const connections = () => new Promise<number>((resolve, reject) => http.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    const before = await connections();
    const sockets = await Promise.all(
      requests.map(
        () =>
          new Promise<Socket>((resolve, reject) => {
            const s = connect(Number(port), '127.0.0.1', () => resolve(s));
            s.once('error', reject);
          }),
      ),
    );
    const statuses = sockets.map(
      (s) =>
        new Promise<number>((resolve, reject) => {
          let got = '';
          s.on('data', (b: Buffer) => {
            got += b.toString();
            const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
            if (m) {
              resolve(Number(m[1]));
              s.destroy();
            }
          });
          s.once('error', reject);
        }),
    );
    // The server accepts one new connection per turn of its event loop; wait until it has them all,
    // so that the requests really arrive together.
    while ((await connections()) < before + requests.length) await new Promise((resolve) => setTimeout(resolve, 5));
    sockets.forEach((s, i) => {
      s.write(requests[i] as string);
    });
    return Promise.all(statuses);
  }

  it('200 concurrent sends are acknowledged after far fewer than 200 commits, none lost', async () => {
    const bob = await account(t.api, 'bob');
    const senders = [await account(t.api, 'alice'), await account(t.api, 'carol')];
    const requests = Array.from({ length: 200 }, (_, i) => {
      const body = JSON.stringify({ to: 'bob', messages: [{ deviceId: bob.d.keys.deviceId, body: b64(new Uint8Array([i])) }] });
      return [
        'POST /v1/messages HTTP/1.1',
        'host: 127.0.0.1',
        `authorization: Bearer ${senders[i % 2]!.token}`,
        'content-type: application/json',
        `content-length: ${Buffer.byteLength(body)}`,
        'connection: close',
        '',
        body,
      ].join('\r\n');
    });
    const before = await commitsSoFar();
    const statuses = await burst(requests);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const commits = (await commitsSoFar()) - before;
    expect(commits).toBeGreaterThan(0);
    expect(commits).toBeLessThanOrEqual(20);
    const got = await t.api.req('GET', '/v1/messages?limit=500', { token: bob.token });
    expect(got.body.messages).toHaveLength(200);
  });
});

describe('durability', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'blindrelay-kill-'));
  });
  afterEach(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
  const start = (dataDir: string) =>
    new Promise<{ proc: ChildProcess; url: string }>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', bin, '--port', '0', '--data', dataDir, '--log-level', 'warn'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      child = proc;
      let out = '';
      proc.stdout?.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve({ proc, url: m[1] as string });
      });
      proc.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });

  it('every send answered 200 survives kill -9 of the server right after the answers', async () => {
    const dataDir = join(dir, 'data');
    const first = await start(dataDir);
    const api = new Api(first.url);
    const bob = await newUser('bob');
    await register(api, bob);
    const bobToken = await login(api, bob);
    const alice = await account(api, 'alice');
    const deviceId = bob.devices[0]!.keys.deviceId;

    const accepted: string[] = [];
    let killed = false;
    const exited = new Promise<void>((resolve) => first.proc.once('exit', () => resolve()));
    await Promise.allSettled(
      Array.from({ length: 150 }, (_, i) =>
        api.req('POST', '/v1/messages', { token: alice.token, body: { to: 'bob', messages: [{ deviceId, body: b64(new Uint8Array([i, 1])) }] } }).then((r) => {
          if (r.status !== 200) return;
          accepted.push(r.body.ids[0]);
          // Kill as soon as some are acknowledged, while others are still being written.
          if (accepted.length === 40 && !killed) {
            killed = true;
            first.proc.kill('SIGKILL');
          }
        }),
      ),
    );
    await exited;
    expect(killed).toBe(true);
    expect(accepted.length).toBeGreaterThanOrEqual(40);

    const second = await start(dataDir);
    const got = await new Api(second.url).req('GET', '/v1/messages?limit=500', { token: bobToken });
    expect(got.status).toBe(200);
    const stored = new Set(got.body.messages.map((m: { id: string }) => m.id));
    for (const id of accepted) expect(stored.has(id)).toBe(true);
    // Sanity: what was stored is what was sent.
    for (const m of got.body.messages) expect(unb64(m.body)[1]).toBe(1);
    second.proc.kill('SIGKILL');
  });
});
