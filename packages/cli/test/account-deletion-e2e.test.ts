/**
 * `blindrelay account delete --yes` end to end with real processes (issue 11, docs/API.md §1a):
 * a user with a distinctive name and two devices, messages queued to and from it, a file it
 * shares and one shared with it; then the deletion on the primary, and
 *   - no byte string of the user (name, device ids, public keys: ./account-scan.ts) in any file
 *     of the relay's data directory (database, WAL, blobs), while the relay runs and after it
 *     stopped; the same scan before the deletion finds every one of them (positive control);
 *   - PostgreSQL: no row of any table mentions the name, a key or a device id;
 *   - peers get the typed "no such user" error (ERR_NO_SUCH_USER) for a send and a look-up;
 *   - the primary's profile directory is gone;
 *   - without --yes nothing happens; the name can be registered again, and a peer that pinned the
 *     old master key then refuses the new one (ERR_KEY_CHANGED).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASE_URL, requirePostgres } from '../../server/test/postgres-service.js';
import { type AccountTraces, profileTraces, scanDirectory, traceBytes } from './account-scan.js';
import { finish, type Result, start, waitForLine } from './harness.js';

const ZEBRA = 'zebracanary7q';
const pgAvailable = await requirePostgres('account deletion end to end (PostgreSQL)');

function scenario(backend: 'sqlite' | 'postgres') {
  let tmp: string;
  let relay: ChildProcess;
  let url = '';
  let databaseUrl = '';
  let database = '';
  const home = (name: string) => join(tmp, name);
  const dataDir = () => join(tmp, 'relay-data');
  const br = (who: string, ...args: string[]): Promise<Result> => finish(start(['--home', home(who), ...args]));
  let bobsFile = '';
  /** Everything the relay wrote (debug level), across restarts. */
  const logs: Buffer[] = [];
  const traces: { user: string; deviceIds: number[]; keys: Map<string, Uint8Array> } = { user: ZEBRA, deviceIds: [], keys: new Map() };

  async function ok(who: string, ...args: string[]): Promise<Record<string, unknown>> {
    const r = await br(who, ...args, '--json');
    expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n')[0] as string);
  }
  async function fails(who: string, code: string, ...args: string[]): Promise<void> {
    const r = await br(who, ...args, '--json');
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe(code);
    const human = await br(who, ...args);
    expect(human.code).toBe(1);
    expect(human.stderr).toMatch(/^blindrelay: /);
  }

  async function startRelay(): Promise<void> {
    // The same port on a restart: the profiles hold the URL.
    const args = ['server', '--port', url ? new URL(url).port : '0', '--data', dataDir(), '--log-level', 'debug'];
    if (backend === 'postgres') args.push('--database', databaseUrl);
    relay = start(args);
    for (const s of [relay.stdout, relay.stderr]) s?.on('data', (b: Buffer) => logs.push(b));
    url = (await waitForLine(relay.stdout as NodeJS.ReadableStream, /^listening on /)).replace('listening on ', '').trim();
  }
  async function stopRelay(): Promise<void> {
    if (relay && relay.exitCode === null) {
      relay.kill('SIGTERM');
      await new Promise((r) => relay.once('exit', r));
    }
  }
  async function admin<T>(f: (c: pg.Client) => Promise<T>, url = DATABASE_URL): Promise<T> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return await f(c);
    } finally {
      await c.end();
    }
  }
  /** PostgreSQL: `table: what` for every row of every table that mentions a trace. */
  async function scanRows(t: AccountTraces): Promise<string[]> {
    const needles = [t.user, ...[...t.keys.values()].map((k) => `\\x${Buffer.from(k).toString('hex')}`)];
    return admin(async (c) => {
      const found: string[] = [];
      const tables = (
        await c.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
      ).rows;
      expect(tables.length).toBeGreaterThan(15);
      for (const { table_name } of tables) {
        const rows = (await c.query<{ r: string }>(`SELECT t::text AS r FROM "${table_name}" t`)).rows;
        for (const { r } of rows) for (const n of needles) if (r.includes(n)) found.push(`${table_name}: ${n === t.user ? 'user name' : 'a key'}`);
        const columns = (
          await c.query<{ column_name: string }>(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 AND column_name IN ('device_id', 'from_device')",
            [table_name],
          )
        ).rows;
        for (const { column_name } of columns) {
          const n = await c.query(`SELECT 1 FROM "${table_name}" WHERE ${column_name} = ANY($1::bigint[]) LIMIT 1`, [t.deviceIds]);
          if (n.rowCount) found.push(`${table_name}.${column_name}: a device id`);
        }
      }
      return found;
    }, databaseUrl);
  }
  async function scan(): Promise<string[]> {
    // With PostgreSQL the relay keeps nothing on disk of its own (blobs are rows too).
    return backend === 'postgres' ? scanRows(traces) : scanDirectory(dataDir(), traceBytes(traces));
  }

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'br-deletion-e2e-'));
    if (backend === 'postgres') {
      database = `br_deletion_${randomBytes(5).toString('hex')}`;
      await admin((c) => c.query(`CREATE DATABASE ${database}`));
      const u = new URL(DATABASE_URL);
      u.pathname = `/${database}`;
      databaseUrl = u.toString();
    }
    await startRelay();
  }, 60_000);

  afterAll(async () => {
    await stopRelay();
    if (database) await admin((c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
    await rm(tmp, { recursive: true, force: true });
  });

  it('sets up a user with two devices, messages to and from it, files shared both ways, a key backup', async () => {
    for (const user of ['bob', 'carol']) await ok(user, 'account', 'create', '--server', url, '--user', user);
    await ok('zebra', 'account', 'create', '--server', url, '--user', ZEBRA);
    // A companion device (linked: device link / approve).
    const link = start(['--home', home('zebra2'), 'device', 'link', '--server', url, '--user', ZEBRA, '--json']);
    const linked = finish(link);
    const { code, sas } = JSON.parse(await waitForLine(link.stdout as NodeJS.ReadableStream, /^\{/));
    await ok('zebra', 'device', 'approve', code, '--sas', sas);
    expect((await linked).code).toBe(0);
    for (const h of ['zebra', 'zebra2']) {
      const t = await profileTraces(home(h));
      traces.deviceIds.push(t.deviceId);
      for (const [k, v] of t.keys) traces.keys.set(k, v);
    }
    // Queued, never received: to zebra, from zebra (both devices), and between the others.
    await ok('bob', 'send', ZEBRA, 'for zebra');
    await ok('zebra', 'send', 'bob', 'from zebra to bob');
    await ok('zebra2', 'send', 'carol', 'from zebra2 to carol');
    await ok('bob', 'send', 'carol', 'bob to carol');
    // Files: zebra's (read by bob), bob's (read by zebra and carol).
    await writeFile(join(tmp, 'z.txt'), randomBytes(5000));
    await writeFile(join(tmp, 'b.txt'), randomBytes(5000));
    await ok('zebra', 'file', 'put', join(tmp, 'z.txt'), '--to', 'bob');
    bobsFile = (await ok('bob', 'file', 'put', join(tmp, 'b.txt'), '--to', ZEBRA, '--to', 'carol')).id as string;
    // A key backup on the relay (its row names the user; docs/RECOVERY.md).
    expect(await ok('zebra', 'backup', 'create')).toHaveProperty('recoveryCode');
    // Positive control: the scan finds every trace now.
    const before = await scan();
    const expected =
      backend === 'postgres'
        ? ['user name', 'a key', 'messages.from_device: a device id', 'devices.device_id: a device id']
        : [...traceBytes(traces).keys()].filter((what) => !what.includes('3-byte') && !what.includes('(hex)'));
    for (const what of expected)
      expect(
        before.some((f) => f.endsWith(`: ${what}`) || f.endsWith(what)),
        `${what} in ${before.join('\n')}`,
      ).toBe(true);
  }, 120_000);

  it('refuses without --yes, and changes nothing', async () => {
    await fails('zebra', 'ERR_CONFIRMATION_REQUIRED', 'account', 'delete');
    expect(await ok('bob', 'safety-number', ZEBRA)).toMatchObject({ user: ZEBRA });
  });

  it('deletes on the primary: no trace in the data directory (or any row), peers get ERR_NO_SUCH_USER, the profile is erased', async () => {
    const r = await ok('zebra', 'account', 'delete', '--yes');
    expect(r).toMatchObject({ deleted: ZEBRA, deletedOnRelay: true, profile: join(home('zebra'), 'default') });
    await expect(access(join(home('zebra'), 'default'))).rejects.toThrow();

    expect(await scan()).toEqual([]);

    await fails('bob', 'ERR_NO_SUCH_USER', 'send', ZEBRA, 'hello?');
    await fails('carol', 'ERR_NO_SUCH_USER', 'safety-number', ZEBRA);
    // zebra's messages waiting for bob and carol are gone; bob's to carol arrives.
    const received = await br('carol', 'receive', '--json');
    expect(received.code, received.stderr).toBe(0);
    const froms = received.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l).from);
    expect(froms).toEqual(['bob']);
    // bob's file: the signed reader list still names zebra until bob revokes it, which needs none of zebra's keys.
    expect((await ok('bob', 'file', 'ls')).files).toBeDefined();
    await ok('bob', 'file', 'revoke', bobsFile, ZEBRA);
    const got = await ok('carol', 'file', 'get', bobsFile, '-o', await mkdtemp(join(tmp, 'carol-')));
    expect(got).toMatchObject({ owner: 'bob' });
    // The companion's credentials are dead.
    const companion = await br('zebra2', 'receive', '--json');
    expect(companion.code).toBe(1);

    // After the relay stopped (WAL folded back), still nothing.
    await stopRelay();
    expect(await scan()).toEqual([]);
    await startRelay();
  }, 120_000);

  it('never logged the name, a device id or a key (debug level)', () => {
    const all = Buffer.concat(logs);
    expect(all.length).toBeGreaterThan(1000);
    const found = [...traceBytes(traces)].filter(([what, n]) => !what.includes('device id') && all.includes(n)).map(([what]) => what);
    expect(found).toEqual([]);
    // Device ids as the decimal numbers a JSON log line would carry.
    expect(traces.deviceIds.filter((id) => all.includes(Buffer.from(String(id))))).toEqual([]);
  });

  it('lets the name be registered again; a peer that pinned the old key refuses the new one', async () => {
    await ok('zebra-new', 'account', 'create', '--server', url, '--user', ZEBRA);
    await fails('bob', 'ERR_KEY_CHANGED', 'send', ZEBRA, 'who are you?');
  }, 60_000);
}

describe('account delete end to end (SQLite)', () => scenario('sqlite'));
describe.skipIf(!pgAvailable)('account delete end to end (PostgreSQL)', () => scenario('postgres'));
