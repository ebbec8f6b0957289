/**
 * `blindrelay backup …` end to end with real processes (docs/RECOVERY.md): alice stores a file
 * shared with bob and makes a backup (`backup create --json` prints the recovery code once); her
 * home directory is deleted; a typo in the code is refused by its checksum, another code by the
 * relay, both with nothing created; `backup restore --code` into a new home restores her as a new
 * device (the lost one revoked): `file get` of the earlier file returns the same bytes, bob's
 * messages arrive, bob's safety number for alice is unchanged. A passphrase backup locks after ten
 * wrong passphrases (BLINDRELAY_BACKUP_PASSPHRASE).
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

const br = (who: string, args: string[], env: Record<string, string> = {}): Promise<Result> => finish(start(['--home', home(who), ...args], env));

async function brJson(who: string, args: string[], env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const r = await br(who, [...args, '--json'], env);
  expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] as string);
}

/** A failing command: exit 1, one JSON error with `code`, and nothing created in its home. */
async function expectRefused(who: string, code: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const r = await br(who, [...args, '--json'], env);
  expect(r.code, r.stderr).toBe(1);
  expect(JSON.parse(r.stdout)).toEqual({ error: { code, message: expect.any(String) } });
  expect(existsSync(join(home(who), 'default'))).toBe(false);
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'br-backup-e2e-'));
  relay = start(['server', '--port', '0', '--data', join(tmp, 'relay-data'), '--log-level', 'warn']);
  url = (await waitForLine(relay.stdout as NodeJS.ReadableStream, /^listening on /)).replace('listening on ', '').trim();
  for (const user of ['alice', 'bob', 'dave']) {
    const r = await br(user, ['account', 'create', '--server', url, '--user', user]);
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

describe('blindrelay backup … end to end', () => {
  it('restores alice from her recovery code after her home is deleted', async () => {
    const content = randomBytes(150_000);
    await writeFile(join(tmp, 'contract.pdf'), content);
    const put = await br('alice', ['file', 'put', join(tmp, 'contract.pdf'), '--to', 'bob']);
    expect(put.code, put.stderr).toBe(0);
    const id = put.stdout.trim();
    const bobBefore = await brJson('bob', ['safety-number', 'alice']);
    const oldDevice = (await brJson('alice', ['whoami'])).deviceId;

    const created = await brJson('alice', ['backup', 'create']);
    expect(Object.keys(created)).toEqual(['recoveryCode']);
    const code = created.recoveryCode as string;
    expect(code).toMatch(/^([0-9A-HJKMNP-TV-Z]{4}-){6}[0-9A-HJKMNP-TV-Z]{4}$/);
    // The code is shown once: the profile does not hold it.
    const status = await brJson('alice', ['backup', 'status']);
    expect(JSON.stringify(status)).not.toContain(code.replaceAll('-', ''));
    expect(status).toMatchObject({ enabled: true, kind: 'code', relay: { kind: 'code' } });

    await rm(home('alice'), { recursive: true, force: true });

    // One character changed: refused by the checksum (the relay is never asked).
    const at = 7;
    const typo = code.slice(0, at) + (code[at] === '7' ? '8' : '7') + code.slice(at + 1);
    await expectRefused('alice', 'ERR_RECOVERY_CODE_INVALID', ['backup', 'restore', '--server', url, '--user', 'alice', '--code', typo]);
    // A well-formed code that is not hers: refused by the relay.
    const other = await brJson('dave', ['backup', 'create']);
    await expectRefused('alice', 'ERR_BACKUP_WRONG_SECRET', ['backup', 'restore', '--server', url, '--user', 'alice', '--code', other.recoveryCode as string]);

    const restored = await brJson('alice', [
      'backup',
      'restore',
      '--server',
      url,
      '--user',
      'alice',
      '--code',
      code.toLowerCase().replaceAll('-', ' '),
      '--device-name',
      'replacement',
      '--revoke-others',
    ]);
    expect(restored).toMatchObject({ user: 'alice', deviceName: 'replacement', revoked: [oldDevice], fileKeys: 1, rewrapped: [id] });
    expect(restored.deviceId).not.toBe(oldDevice);
    expect(restored.profile).toBe(join(home('alice'), 'default'));
    expect(existsSync(join(home('alice'), 'default'))).toBe(true);

    const out = await mkdtemp(join(tmp, 'alice-out-'));
    const got = await brJson('alice', ['file', 'get', id, '-o', out]);
    expect(got).toMatchObject({ id, name: 'contract.pdf', owner: 'alice' });
    expect(Buffer.compare(await readFile(join(out, 'contract.pdf')), content)).toBe(0);

    const bobAfter = await brJson('bob', ['safety-number', 'alice']);
    expect(bobAfter.safetyNumber).toBe(bobBefore.safetyNumber);
    expect(bobAfter.keyChanged).toBe(false);
    const sent = await br('bob', ['send', 'alice', 'welcome back alice']);
    expect(sent.code, sent.stderr).toBe(0);
    const r = await br('alice', ['receive', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('welcome back alice');
    // Bob still reads the file.
    const bobOut = await mkdtemp(join(tmp, 'bob-out-'));
    expect((await br('bob', ['file', 'get', id, '-o', bobOut])).code).toBe(0);
    expect(Buffer.compare(await readFile(join(bobOut, 'contract.pdf')), content)).toBe(0);
  }, 180_000);

  it('a passphrase backup: restored with the passphrase; ten wrong passphrases hit the lock', async () => {
    const passphrase = 'dave keeps a long passphrase';
    const created = await brJson('dave', ['backup', 'create', '--passphrase'], { BLINDRELAY_BACKUP_PASSPHRASE: passphrase });
    expect(created).toMatchObject({ kind: 'passphrase' });
    // Without the variable and without a terminal: a clear error, nothing done.
    await expectRefused('dave-x', 'ERR_INVALID_ARGUMENT', ['backup', 'restore', '--server', url, '--user', 'dave', '--passphrase']);
    const ok = await brJson('dave-new', ['backup', 'restore', '--server', url, '--user', 'dave', '--passphrase'], { BLINDRELAY_BACKUP_PASSPHRASE: passphrase });
    expect(ok).toMatchObject({ user: 'dave', revoked: [] });
    for (let i = 0; i < 10; i++) {
      await expectRefused('dave-guess', 'ERR_BACKUP_WRONG_SECRET', ['backup', 'restore', '--server', url, '--user', 'dave', '--passphrase'], {
        BLINDRELAY_BACKUP_PASSPHRASE: `not the passphrase ${i}`,
      });
    }
    await expectRefused('dave-late', 'ERR_BACKUP_LOCKED', ['backup', 'restore', '--server', url, '--user', 'dave', '--passphrase'], {
      BLINDRELAY_BACKUP_PASSPHRASE: passphrase,
    });
    expect(await brJson('dave', ['backup', 'status'])).toMatchObject({ relay: { locked: true, failedAttempts: 10, maxAttempts: 10 } });
  }, 180_000);
});
