/**
 * An account's whole life with real processes, in the order issue 11 judges it (docs/PROTOCOL.md
 * §16 custody, docs/RECOVERY.md): alice (primary) links a companion, whose `device approve` is
 * refused; bob's message reaches both of alice's devices; alice stores a file for bob and makes a
 * backup; the companion is revoked, and from its own profile directory it can no longer receive,
 * approve, or open a file written afterwards; alice's home is deleted; a mistyped code is refused
 * by its checksum and a wrong code by the relay (nothing created); `backup restore --code` on a new
 * home brings her back: bob's next message arrives, the earlier file has the same bytes, and bob's
 * safety number for alice is unchanged. (Passphrase backups and their lock: backup-e2e.test.ts;
 * a revoked device's own modified client: test/attacks/k4-hostile-revoked-device.test.ts.)
 */

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finish, type Result, start, waitForLine } from './harness.js';

let tmp: string;
let relay: ChildProcess;
let url: string;
const home = (name: string) => join(tmp, name);
const br = (who: string, ...args: string[]): Promise<Result> => finish(start(['--home', home(who), ...args]));

async function ok(who: string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await br(who, ...args, '--json');
  expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}
async function refused(who: string, code: string, ...args: string[]): Promise<void> {
  const r = await br(who, ...args, '--json');
  expect(r.code, `${who} ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(1);
  expect(JSON.parse(r.stdout)).toEqual({ error: { code, message: expect.any(String) } });
}
async function texts(who: string): Promise<string[]> {
  const r = await br(who, 'receive', '--json');
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { text?: string })
    .flatMap((l) => (l.text === undefined ? [] : [l.text]));
}
/** Starts `device link` for `who`; resolves its code and comparison digits, and the finished process. */
async function link(who: string): Promise<{ code: string; sas: string; done: Promise<Result>; process: ChildProcess }> {
  const process = start(['--home', home(who), 'device', 'link', '--server', url, '--user', 'alice', '--json']);
  const done = finish(process);
  const { code, sas } = JSON.parse(await waitForLine(process.stdout as NodeJS.ReadableStream, /^\{/));
  return { code, sas, done, process };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'br-lifecycle-e2e-'));
  relay = start(['server', '--port', '0', '--data', join(tmp, 'relay-data'), '--log-level', 'warn']);
  url = (await waitForLine(relay.stdout as NodeJS.ReadableStream, /^listening on /)).replace('listening on ', '').trim();
}, 60_000);
afterAll(async () => {
  if (relay && relay.exitCode === null) {
    relay.kill('SIGTERM');
    await new Promise((r) => relay.once('exit', r));
  }
  await rm(tmp, { recursive: true, force: true });
});

describe('an account from first device to recovery', () => {
  it('companion, revocation, backup, loss of every device, restore', async () => {
    // alice (primary) and bob; alice links a companion.
    expect(await ok('alice', 'account', 'create', '--server', url, '--user', 'alice')).toMatchObject({ primary: true });
    await ok('bob', 'account', 'create', '--server', url, '--user', 'bob');
    const companion = await link('alice-phone');
    await ok('alice', 'device', 'approve', companion.code, '--sas', companion.sas);
    expect((await companion.done).code).toBe(0);
    const phone = await ok('alice-phone', 'whoami');
    expect(phone).toMatchObject({ user: 'alice', primary: false });

    // The companion cannot approve a device (a real pending code): a clear error, nothing sent.
    const third = await link('alice-tablet');
    await refused('alice-phone', 'ERR_NOT_PRIMARY', 'device', 'approve', third.code, '--sas', third.sas);
    third.process.kill('SIGTERM');
    await third.done;

    // bob sends; both of alice's devices receive.
    await ok('bob', 'send', 'alice', 'hello both');
    expect(await texts('alice')).toEqual(['hello both']);
    expect(await texts('alice-phone')).toEqual(['hello both']);

    // alice stores a file for bob, and backs up.
    const content = randomBytes(200_000);
    await writeFile(join(tmp, 'report.pdf'), content);
    const stored = await ok('alice', 'file', 'put', join(tmp, 'report.pdf'), '--to', 'bob');
    const fileId = stored.id as string;
    const safetyBefore = (await ok('bob', 'safety-number', 'alice')).safetyNumber;
    const backup = await ok('alice', 'backup', 'create');
    const code = backup.recoveryCode as string;

    // The companion is revoked; from its own profile directory nothing works any more.
    const revoked = await ok('alice', 'device', 'revoke', String(phone.deviceId));
    expect(revoked).toMatchObject({ revoked: phone.deviceId, rekeyFailed: [] });
    await refused('alice-phone', 'ERR_NOT_REGISTERED', 'receive');
    await refused('alice-phone', 'ERR_NOT_PRIMARY', 'device', 'approve', third.code, '--sas', third.sas);
    await writeFile(join(tmp, 'later.txt'), randomBytes(1000));
    const later = (await ok('alice', 'file', 'put', join(tmp, 'later.txt'))).id as string;
    const phoneOut = await mkdtemp(join(tmp, 'phone-out-'));
    expect((await br('alice-phone', 'file', 'get', later, '-o', phoneOut, '--json')).code).toBe(1);
    expect(existsSync(join(phoneOut, 'later.txt'))).toBe(false);

    // alice loses her primary too.
    await rm(home('alice'), { recursive: true, force: true });

    // A mistyped code (one character changed) and another user's code: refused, nothing created.
    const at = 12;
    const typo = code.slice(0, at) + (code[at] === '7' ? '8' : '7') + code.slice(at + 1);
    await refused('alice-new', 'ERR_RECOVERY_CODE_INVALID', 'backup', 'restore', '--server', url, '--user', 'alice', '--code', typo);
    expect(existsSync(home('alice-new'))).toBe(false);
    const bobsCode = (await ok('bob', 'backup', 'create')).recoveryCode as string;
    await refused('alice-new', 'ERR_BACKUP_WRONG_SECRET', 'backup', 'restore', '--server', url, '--user', 'alice', '--code', bobsCode);
    expect(existsSync(join(home('alice-new'), 'default'))).toBe(false);

    // The real code on a new home: alice is back as a new primary.
    const restored = await ok('alice-new', 'backup', 'restore', '--server', url, '--user', 'alice', '--code', code, '--revoke-others');
    expect(restored).toMatchObject({ user: 'alice' });
    expect(await ok('alice-new', 'whoami')).toMatchObject({ user: 'alice', primary: true });

    // Messages sent afterwards arrive; the earlier file has the same bytes; bob notices nothing.
    await ok('bob', 'send', 'alice', 'welcome back');
    expect(await texts('alice-new')).toEqual(['welcome back']);
    const out = await mkdtemp(join(tmp, 'alice-out-'));
    await ok('alice-new', 'file', 'get', fileId, '-o', out);
    expect(Buffer.compare(await readFile(join(out, 'report.pdf')), content)).toBe(0);
    const safetyAfter = await ok('bob', 'safety-number', 'alice');
    expect(safetyAfter).toMatchObject({ safetyNumber: safetyBefore, keyChanged: false });
    // bob still opens the file alice re-keyed on restore.
    const bobOut = await mkdtemp(join(tmp, 'bob-out-'));
    await ok('bob', 'file', 'get', fileId, '-o', bobOut);
    expect(Buffer.compare(await readFile(join(bobOut, 'report.pdf')), content)).toBe(0);
  }, 240_000);
});
