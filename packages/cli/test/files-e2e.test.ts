/**
 * `blindrelay file …` end to end with real processes: the relay (`blindrelay server`) and the CLI
 * per device. Alice stores a file for Bob, shares it with Carol, revokes Bob, exports it for the
 * real `age` tool, and deletes it; every failure is one typed error line.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressBar } from '../src/progress.js';
import { finish, type Result, start, waitForLine } from './harness.js';

let tmp: string;
let relay: ChildProcess;
let url: string;
const home = (name: string) => join(tmp, name);

const br = (who: string, ...args: string[]): Promise<Result> => finish(start(['--home', home(who), ...args]));

async function brJson(who: string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await br(who, ...args, '--json');
  expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] as string);
}

async function expectFailure(who: string, code: string, ...args: string[]): Promise<string> {
  const human = await br(who, ...args);
  expect(human.code, human.stdout).toBe(1);
  expect(human.stdout).toBe('');
  expect(human.stderr).toMatch(/^blindrelay: /);
  expect(human.stderr).not.toMatch(/\n\s+at /);
  const json = await br(who, ...args, '--json');
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout)).toEqual({ error: { code, message: expect.any(String) } });
  return human.stderr;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'br-files-e2e-'));
  relay = start(['server', '--port', '0', '--data', join(tmp, 'relay-data'), '--log-level', 'warn']);
  url = (await waitForLine(relay.stdout as NodeJS.ReadableStream, /^listening on /)).replace('listening on ', '').trim();
  for (const user of ['alice', 'bob', 'carol']) {
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

describe('blindrelay file … end to end', () => {
  let id = '';
  let content: Buffer;

  it('put prints the id; the reader gets the same bytes; ls shows both sides', async () => {
    content = randomBytes(300_000);
    await writeFile(join(tmp, 'q3 report.pdf'), content);
    const put = await br('alice', 'file', 'put', join(tmp, 'q3 report.pdf'), '--to', 'bob');
    expect(put.code, put.stderr).toBe(0);
    id = put.stdout.trim();
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(put.stderr).toContain('stored q3 report.pdf');

    const out = await mkdtemp(join(tmp, 'bob-'));
    const got = await brJson('bob', 'file', 'get', id, '-o', out);
    expect(got).toMatchObject({ id, name: 'q3 report.pdf', size: 300_000, owner: 'alice', contents: 'signed', path: join(out, 'q3 report.pdf') });
    expect(Buffer.compare(await readFile(join(out, 'q3 report.pdf')), content)).toBe(0);
    expect((await stat(join(out, 'q3 report.pdf'))).mode & 0o777).toBe(0o600);

    const aliceLs = await brJson('alice', 'file', 'ls');
    expect(aliceLs.files).toEqual([expect.objectContaining({ id, name: 'q3 report.pdf', readers: ['bob'], access: 'ok' })]);
    const bobLs = await br('bob', 'file', 'ls');
    expect(bobLs.stdout).toContain(`${id}`);
    expect(bobLs.stdout).toContain('from alice');
  });

  it('share adds a reader; only the owner can share, revoke or delete', async () => {
    await expectFailure('carol', 'ERR_RELAY_NOT_FOUND', 'file', 'get', id, '-o', tmp);
    const shared = await brJson('alice', 'file', 'share', id, 'carol');
    expect(shared.readers).toEqual(['bob', 'carol']);
    const out = await mkdtemp(join(tmp, 'carol-'));
    await brJson('carol', 'file', 'get', id, '-o', join(out, 'copy.pdf'));
    expect(Buffer.compare(await readFile(join(out, 'copy.pdf')), content)).toBe(0);
    await expectFailure('bob', 'ERR_FILE_NOT_OWNER', 'file', 'share', id, 'carol');
    await expectFailure('bob', 'ERR_FILE_NOT_OWNER', 'file', 'rm', id);
    await expectFailure('bob', 'ERR_FILE_NOT_OWNER', 'file', 'revoke', id, 'carol');
  });

  it('revoke: the revoked user cannot fetch the new version; the others still read it', async () => {
    const r = await brJson('alice', 'file', 'revoke', id, 'bob');
    expect(r).toMatchObject({ id, revoked: 'bob', readers: ['carol'], version: 2 });
    await expectFailure('bob', 'ERR_RELAY_NOT_FOUND', 'file', 'get', id, '-o', tmp);
    const out = await mkdtemp(join(tmp, 'carol2-'));
    await brJson('carol', 'file', 'get', id, '-o', out);
    expect(Buffer.compare(await readFile(join(out, 'q3 report.pdf')), content)).toBe(0);
  });

  it('rekey re-encrypts for the same readers; resume has nothing to finish', async () => {
    const r = await brJson('alice', 'file', 'rekey', id);
    expect(r).toMatchObject({ id, readers: ['carol'], version: 3, contents: 'signed' });
    expect(await brJson('alice', 'file', 'resume')).toEqual({ finished: [] });
    expect((await br('alice', 'file', 'resume')).stdout).toContain('(no unfinished revocation)');
    const out = await mkdtemp(join(tmp, 'carol3-'));
    await brJson('carol', 'file', 'get', id, '-o', out);
    expect(Buffer.compare(await readFile(join(out, 'q3 report.pdf')), content)).toBe(0);
    await expectFailure('carol', 'ERR_FILE_NOT_OWNER', 'file', 'rekey', id);
  });

  it('export writes an age file and a 0600 identity that the age tool uses; it warns that the identity is secret', async () => {
    const out = await mkdtemp(join(tmp, 'export-'));
    const r = await br('carol', 'file', 'export', id, '-o', join(out, 'report.age'), '--identity-out', join(out, 'key.txt'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: .*key\.txt is a SECRET key/);
    expect(r.stdout).toContain(`age -d -i ${join(out, 'key.txt')}`);
    expect((await stat(join(out, 'key.txt'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(out, 'key.txt'), 'utf8')).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]+$/m);
    const plain = execFileSync('age', ['-d', '-i', join(out, 'key.txt'), join(out, 'report.age')]);
    expect(Buffer.compare(plain, content)).toBe(0);
    // Existing outputs are never replaced without --force.
    await expectFailure('carol', 'ERR_FILE_EXISTS', 'file', 'export', id, '-o', join(out, 'report.age'), '--identity-out', join(out, 'key2.txt'));
    expect((await readdir(out)).sort()).toEqual(['key.txt', 'report.age']);
  });

  it('bad input: clear typed errors, nothing written', async () => {
    await expectFailure('alice', 'ERR_INVALID_ARGUMENT', 'file', 'put', join(tmp, 'missing.bin'));
    await expectFailure('alice', 'ERR_RELAY_NOT_FOUND', 'file', 'get', 'AAAAAAAAAAAAAAAAAAAAAA', '-o', tmp);
    await expectFailure('alice', 'ERR_INVALID_ARGUMENT', 'file', 'get', 'not-an-id', '-o', tmp); // checked before any request (review ux-2026-12 F6)
    await expectFailure('alice', 'ERR_NO_SUCH_USER', 'file', 'share', id, 'nobody-here');
    await expectFailure('alice', 'ERR_INVALID_ARGUMENT', 'file', 'revoke', id, 'bob');
  });

  it('rm deletes the file for everyone', async () => {
    expect(await brJson('alice', 'file', 'rm', id)).toEqual({ id, deleted: true });
    await expectFailure('carol', 'ERR_RELAY_NOT_FOUND', 'file', 'get', id, '-o', tmp);
    expect((await brJson('alice', 'file', 'ls')).files).toEqual([]);
  });
});

describe('progress bar', () => {
  it('draws on a terminal only', () => {
    const written: string[] = [];
    const tty = { isTTY: true, write: (s: string) => written.push(s) > 0 } as unknown as NodeJS.WritableStream & { isTTY: boolean };
    const bar = progressBar(tty, 'upload x', true);
    bar.update(512 * 1024, 1024 * 1024);
    bar.finish();
    expect(written.join('')).toContain('50%');
    expect(written.at(-1)).toBe('\n');
    const pipe: string[] = [];
    const notTty = { isTTY: false, write: (s: string) => pipe.push(s) > 0 } as unknown as NodeJS.WritableStream;
    const quiet = progressBar(notTty, 'upload x', true);
    quiet.update(1, 2);
    quiet.finish();
    expect(pipe).toEqual([]);
  });
});
