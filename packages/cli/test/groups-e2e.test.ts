/**
 * `blindrelay group …` end to end with real processes: a relay and the CLI per device. Three users
 * with five devices (alice and bob with two each, carol with one) plus dave for the race: create,
 * send, add, remove, re-add, leave; two members committing at once both land (one retries after
 * 409 stale_epoch) with no member stuck; a device offline during eight epoch changes catches up;
 * a removed member's later `receive` shows nothing new from the group; nothing readable (group
 * name, texts) is in the relay's files. Then files shared with a group (`file put --group`: read by
 * members, refused to others, re-keyed when a member is removed) and a device linked afterwards
 * joining its user's groups (it reads what is sent after, and the group file).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finish, type Result, start, waitForLine } from './harness.js';

let tmp: string;
let relay: ChildProcess;
let url: string;
const home = (name: string) => join(tmp, name);
const br = (who: string, ...args: string[]): Promise<Result> => finish(start(['--home', home(who), ...args]));
async function ok(who: string, ...args: string[]): Promise<string> {
  const r = await br(who, ...args);
  expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
  return r.stdout;
}
const jsonLines = async (who: string, ...args: string[]) =>
  (await ok(who, ...args, '--json'))
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
/** Texts of group `id` in `who`'s receive. */
const groupTexts = async (who: string, id: string) => (await jsonLines(who, 'receive')).filter((l) => l.group === id).map((l) => l.text);
async function link(who: string, user: string): Promise<void> {
  const p = start(['--home', home(who), 'device', 'link', '--server', url, '--user', user, '--json']);
  const done = finish(p);
  const { code, sas } = JSON.parse(await waitForLine(p.stdout as NodeJS.ReadableStream, /^\{/));
  await ok(user, 'device', 'approve', code, '--sas', sas);
  expect((await done).code).toBe(0);
}
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

const NAME = 'CanaryGroupName7f3a';
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'br-groups-e2e-'));
  relay = start(['server', '--port', '0', '--data', join(tmp, 'relay-data'), '--log-level', 'warn']);
  url = (await waitForLine(relay.stdout as NodeJS.ReadableStream, /^listening on /)).replace('listening on ', '').trim();
  await Promise.all(['alice', 'bob', 'carol', 'dave'].map((u) => ok(u, 'account', 'create', '--server', url, '--user', u)));
  await Promise.all([link('alice2', 'alice'), link('bob2', 'bob')]);
  // Every device publishes its KeyPackages (receive does it).
  await Promise.all(['alice2', 'bob', 'bob2', 'carol', 'dave'].map((d) => ok(d, 'receive')));
}, 120_000);

afterAll(async () => {
  if (relay && relay.exitCode === null) {
    relay.kill('SIGTERM');
    await new Promise((r) => relay.once('exit', r));
  }
  await rm(tmp, { recursive: true, force: true });
});

describe('blindrelay group end to end', () => {
  it('create, send, add, remove, re-add, race, leave; offline catch-up; removal removes; relay blind', async () => {
    const [{ id }] = (await jsonLines('alice', 'group', 'create', NAME, '--member', 'bob')) as [{ id: string }];
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect((await jsonLines('alice2', 'group', 'ls')).map((g) => [g.id, g.name, g.members])).toEqual([[id, NAME, ['alice', 'bob']]]);
    await ok('bob', 'group', 'send', id, 'canary-text-1 hello');
    expect(await groupTexts('alice2', id)).toEqual(['canary-text-1 hello']);

    await ok('alice', 'group', 'add', id, 'carol');
    await ok('bob', 'group', 'send', id, 'canary-text-2 with carol');
    expect(await groupTexts('carol', id)).toEqual(['canary-text-2 with carol']);

    await ok('alice', 'group', 'remove', id, 'carol');
    await ok('bob', 'group', 'send', id, 'canary-text-3 after removal');
    expect(await groupTexts('carol', id)).toEqual([]);
    expect(await jsonLines('carol', 'group', 'ls')).toEqual([]);

    await ok('alice', 'group', 'add', id, 'carol');
    await ok('bob', 'group', 'send', id, 'canary-text-4 welcome back');
    expect(await groupTexts('carol', id)).toEqual(['canary-text-4 welcome back']);
    // bob2 was offline for four membership commits (create+add, add, remove, re-add) and the joiners'
    // self-updates (§22.6b: bob's, alice2's, carol's twice), eight epoch changes: it catches up.
    expect(await groupTexts('bob2', id)).toEqual([
      'canary-text-1 hello',
      'canary-text-2 with carol',
      'canary-text-3 after removal',
      'canary-text-4 welcome back',
    ]);
    // ... then made its own self-update: everyone is at epoch 9.
    for (const who of ['bob2', 'alice']) expect((await jsonLines(who, 'group', 'ls')).map((g) => g.epoch)).toEqual([9]);

    // Two members commit at once: both changes land, in one order for everyone.
    const [r1, r2] = await Promise.all([br('alice', 'group', 'add', id, 'dave'), br('bob', 'group', 'remove', id, 'carol')]);
    expect([r1.code, r2.code], r1.stderr + r2.stderr).toEqual([0, 0]);
    const members = (await jsonLines('alice2', 'group', 'members', id)).map((m) => `${m.user}/${m.deviceId}`);
    expect(members.map((m) => m.split('/')[0]).sort()).toEqual(['alice', 'alice', 'bob', 'bob', 'dave']);
    await ok('bob2', 'group', 'send', id, 'canary-text-5 after the race');
    for (const who of ['alice', 'dave']) expect((await groupTexts(who, id)).at(-1)).toBe('canary-text-5 after the race');
    expect(await groupTexts('carol', id)).toEqual([]);

    // dave leaves; the next member to sync commits his removal; he reads nothing afterwards.
    await ok('dave', 'group', 'leave', id);
    await ok('alice', 'group', 'send', id, 'canary-text-6 after dave left');
    expect(await groupTexts('dave', id)).toEqual([]);
    expect((await jsonLines('bob', 'group', 'members', id)).map((m) => m.user)).not.toContain('dave');
    expect((await groupTexts('bob', id)).at(-1)).toBe('canary-text-6 after dave left');

    // Typed errors.
    const bad = await br('carol', 'group', 'send', id, 'x', '--json');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).error.code).toBe('ERR_GROUP_NOT_MEMBER');
    const badId = await br('alice', 'group', 'send', 'nope', 'x', '--json');
    expect(JSON.parse(badId.stdout).error.code).toBe('ERR_INVALID_ARGUMENT');

    // The relay's files hold no group name and no text.
    for (const f of await filesUnder(join(tmp, 'relay-data'))) {
      const bytes = await readFile(f);
      for (const canary of [NAME, 'canary-text']) expect(bytes.includes(Buffer.from(canary)), `${canary} in ${f}`).toBe(false);
    }
  }, 240_000);

  it('file put --group: members read it, a removed member cannot; a linked device joins the groups', async () => {
    const [{ id }] = (await jsonLines('alice', 'group', 'create', 'CanaryFilesGroup', '--member', 'bob', '--member', 'carol')) as [{ id: string }];
    const path = join(tmp, 'canary-group-file.txt');
    await writeFile(path, 'canary-file-contents for the group\n');
    const [put] = (await jsonLines('alice', 'file', 'put', path, '--group', id)) as [{ id: string; readers: string[]; group: string }];
    expect(put.readers.sort()).toEqual(['bob', 'carol']);
    expect(put.group).toBe(id);
    const get = (who: string) => br(who, 'file', 'get', put.id, '-o', join(tmp, `${who}-got.txt`), '--force', '--json');
    expect((await get('carol')).code).toBe(0);
    expect(await readFile(join(tmp, 'carol-got.txt'), 'utf8')).toBe('canary-file-contents for the group\n');

    // A device linked now; alice's next group command adds it to her groups (the device list
    // followed), then removes carol: the file is re-keyed (a new version) without her, for alice3 too.
    await link('alice3', 'alice');
    const [removed] = (await jsonLines('alice', 'group', 'remove', id, 'carol')) as [{ files: { updated: string[] } }];
    expect(removed.files.updated).toEqual([put.id]);
    const gone = await get('carol');
    expect(gone.code).toBe(1);
    expect(JSON.parse(gone.stdout).error).toMatchObject({ code: 'ERR_RELAY_NOT_FOUND', message: expect.stringContaining('not shared with you') });
    await ok('bob', 'group', 'send', id, 'canary-text-7 to the new device');
    expect(await groupTexts('alice3', id)).toEqual(['canary-text-7 to the new device']);
    expect((await get('alice3')).code).toBe(0);

    for (const f of await filesUnder(join(tmp, 'relay-data'))) {
      const bytes = await readFile(f);
      for (const canary of ['CanaryFilesGroup', 'canary-group-file', 'canary-file-contents', 'canary-text-7'])
        expect(bytes.includes(Buffer.from(canary)), `${canary} in ${f}`).toBe(false);
    }
  }, 120_000);
});
