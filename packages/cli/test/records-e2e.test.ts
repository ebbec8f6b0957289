/**
 * `blindrelay records …` and `blindrelay search` end to end with real processes: the relay
 * (`blindrelay server`) and the CLI per user. Alice stores and finds records (exact, compound,
 * word), shares the collection with Bob, removes him (re-key); both search their message
 * history; every failure is one typed error line; nothing readable is in the relay's files.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
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

async function expectFailure(who: string, code: string, ...args: string[]): Promise<void> {
  const human = await br(who, ...args);
  expect(human.code, human.stdout).toBe(1);
  expect(human.stderr).toMatch(/^blindrelay: /);
  expect(human.stderr).not.toMatch(/\n\s+at /);
  const json = await br(who, ...args, '--json');
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout)).toEqual({ error: { code, message: expect.any(String) } });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'br-records-e2e-'));
  relay = start(['server', '--port', '0', '--data', join(tmp, 'relay-data'), '--log-level', 'warn']);
  url = (await waitForLine(relay.stdout as NodeJS.ReadableStream, /^listening on /)).replace('listening on ', '').trim();
  for (const user of ['alice', 'bob']) {
    const r = await br(user, 'account', 'create', '--server', url, '--user', user);
    expect(r.code, r.stderr).toBe(0);
  }
}, 60_000);

afterAll(async () => {
  if (relay && relay.exitCode === null) {
    relay.kill('SIGTERM');
    await new Promise((r) => relay.once('exit', r));
  }
  await rm(tmp, { recursive: true, force: true });
});

describe('blindrelay records / search end to end', () => {
  it('put / get / find / rm, share and unshare, search history; typed errors; nothing readable on the relay', async () => {
    const index = ['--index', 'email:exact:lower', '--index', 'first+last:compound:lower', '--index', 'note:word'];
    const id1 = (
      await ok(
        'alice',
        'records',
        'put',
        'contacts',
        '{"email":"Ada@Example.org","first":"Ada","last":"Lovelace","note":"canarynote analytical engine"}',
        ...index,
      )
    ).trim();
    expect(id1).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const [put2] = await jsonLines(
      'alice',
      'records',
      'put',
      'contacts',
      '{"email":"grace@example.org","first":"Grace","last":"Hopper","note":"compiler pioneer"}',
    );
    const id2 = (put2 as { id: string }).id;

    expect(JSON.parse(await ok('alice', 'records', 'get', 'contacts', id1, '--json'))).toEqual({
      id: id1,
      record: { email: 'Ada@Example.org', first: 'Ada', last: 'Lovelace', note: 'canarynote analytical engine' },
    });
    const byEmail = await jsonLines('alice', 'records', 'find', 'contacts', 'email=ADA@example.ORG');
    expect(byEmail.map((r) => r.id)).toEqual([id1]);
    expect((await jsonLines('alice', 'records', 'find', 'contacts', 'first=grace', 'last=HOPPER')).map((r) => r.id)).toEqual([id2]);
    expect((await jsonLines('alice', 'records', 'find', 'contacts', 'note=ENGINE analytical')).map((r) => r.id)).toEqual([id1]);
    expect(await jsonLines('alice', 'records', 'find', 'contacts', 'note=engine', 'email=grace@example.org')).toEqual([]);

    // Bad input: typed errors.
    await expectFailure('alice', 'ERR_NO_INDEX', 'records', 'find', 'contacts', 'city=Paris');
    await expectFailure('alice', 'ERR_INVALID_ARGUMENT', 'records', 'find', 'contacts', 'no-equals-sign');
    await expectFailure('alice', 'ERR_INVALID_ARGUMENT', 'records', 'put', 'contacts', '{not json');
    await expectFailure('alice', 'ERR_INVALID_ARGUMENT', 'records', 'put', 'contacts', '[1,2]');
    await expectFailure('alice', 'ERR_INVALID_ARGUMENT', 'records', 'put', 'other', '{"a":1}', '--index', 'a:fuzzy');
    await expectFailure('alice', 'ERR_COLLECTION_UNKNOWN', 'records', 'get', 'nothing-here', id1);
    await expectFailure('bob', 'ERR_COLLECTION_UNKNOWN', 'records', 'find', 'alice/contacts', 'email=x');
    await expectFailure('bob', 'ERR_COLLECTION_UNKNOWN', 'records', 'share', 'contacts', 'alice');

    // Share with Bob: his devices get the key end to end (he receives it), then he reads and writes.
    await ok('alice', 'records', 'share', 'contacts', 'bob');
    await ok('bob', 'receive');
    expect((await jsonLines('bob', 'records', 'find', 'alice/contacts', 'email=ada@example.org')).map((r) => r.id)).toEqual([id1]);
    const id3 = (await ok('bob', 'records', 'put', 'alice/contacts', '{"email":"bob@example.org","note":"added by bob"}')).trim();
    await expectFailure('bob', 'ERR_COLLECTION_NOT_OWNER', 'records', 'unshare', 'alice/contacts', 'alice');

    // Unshare: Bob is refused at once; Alice's later writes are under a new epoch.
    const [after] = await jsonLines('alice', 'records', 'unshare', 'contacts', 'bob');
    expect(after).toMatchObject({ epoch: 1, members: [] });
    await expectFailure('bob', 'ERR_COLLECTION_UNKNOWN', 'records', 'find', 'alice/contacts', 'email=ada@example.org');
    await ok('alice', 'records', 'rm', 'contacts', id3);
    await expectFailure('alice', 'ERR_RECORD_NOT_FOUND', 'records', 'get', 'contacts', id3);

    // Message history: sent and received messages are found by any word, from either side.
    await ok('alice', 'send', 'bob', 'The canarysecret launch is on Tuesday');
    await ok('bob', 'send', 'alice', 'unrelated reply');
    await ok('bob', 'receive');
    await ok('alice', 'receive');
    const aliceHits = await jsonLines('alice', 'search', 'tuesday', 'LAUNCH');
    expect(aliceHits).toEqual([
      { id: expect.any(String), from: 'alice', to: 'bob', text: 'The canarysecret launch is on Tuesday', sentAt: expect.any(Number) },
    ]);
    const bobHits = await jsonLines('bob', 'search', 'canarysecret');
    expect(bobHits.map((m) => [m.from, m.text])).toEqual([['alice', 'The canarysecret launch is on Tuesday']]);
    expect(await jsonLines('bob', 'search', 'wednesday')).toEqual([]);
    expect((await jsonLines('alice', 'search', 'reply')).map((m) => m.from)).toEqual(['bob']);

    // Inspection: canary words, names and field values are nowhere in the relay's files.
    const files: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(d, e.name));
        else files.push((await readFile(join(d, e.name))).toString('latin1'));
      }
    };
    await walk(join(tmp, 'relay-data'));
    const all = files.join('\n');
    for (const canary of ['canarynote', 'canarysecret', 'Tuesday', 'tuesday', 'Lovelace', 'Example.org', 'example.org', 'contacts', '.history', 'analytical']) {
      expect(all.includes(canary), canary).toBe(false);
    }
  }, 120_000);
});
