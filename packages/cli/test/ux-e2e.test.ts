/**
 * The new-user frictions of ../shared/reviews/ux-2026-12.md (F-numbers), each driven through real
 * processes: `blindrelay server` and the `blindrelay` command as child processes, one relay shared
 * by every test of this file (`npm start` and the bad `--data` start their own).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, builtOptions, finish, type Result, start, waitForLine } from './harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let tmp: string;
let relay: ChildProcess;
let relayLog = '';
let url: string;
const home = (name: string) => join(tmp, name);

/** `blindrelay --home <tmp>/<who> ARGS`, with `input` on standard input when given. */
function br(who: string, args: string[], options: { env?: Record<string, string>; input?: string | Uint8Array } = {}): Promise<Result> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_OPTIONS: builtOptions(process.env.NODE_OPTIONS),
    BLINDRELAY_HOME: '',
    BLINDRELAY_PROFILE: '',
    BLINDRELAY_PASSPHRASE: '',
    ...options.env,
  };
  const child = spawn(process.execPath, [BIN, '--home', home(who), ...args], { env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (options.input !== undefined) child.stdin?.end(options.input);
  return finish(child);
}
async function brJson(who: string, args: string[], options: { env?: Record<string, string>; input?: string | Uint8Array } = {}) {
  const r = await br(who, [...args, '--json'], options);
  expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}
/** A failure: exit 1, one `blindrelay: …` line on stderr matching `message`, and `code` with --json. */
async function expectFailure(
  who: string,
  args: string[],
  code: string,
  message: RegExp,
  options: { env?: Record<string, string>; input?: string; json?: boolean } = {},
) {
  // With --json (one run: the suite's time is tight): the code on stdout, the message in it.
  if (options.json !== false) {
    const json = await br(who, [...args, '--json'], options);
    expect(json.code, json.stderr).toBe(1);
    const { error } = JSON.parse(json.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    return;
  }
  const human = await br(who, args, options);
  expect(human.code, human.stderr).toBe(1);
  expect(human.stdout).toBe('');
  expect(human.stderr.trim().split('\n').at(-1)).toMatch(/^blindrelay: /);
  expect(human.stderr).toMatch(message);
}
async function receiveJson(who: string): Promise<Record<string, unknown>[]> {
  const r = await br(who, ['receive', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
/** True while something accepts connections on the port. */
function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'br-ux-'));
  relay = start(['server', '--port', '0', '--data', join(tmp, 'relay-data')]);
  relay.stderr?.on('data', (d) => {
    relayLog += d;
  });
  // A generous wait: on a loaded 2-core machine the relay's start-up alone can take 20 s.
  url = (await waitForLine(relay.stdout as NodeJS.ReadableStream, /^listening on /, 60_000)).replace('listening on ', '').trim();
  // alice: one device, unencrypted; bob: primary "laptop" (a phone is linked below).
  await brJson('alice', ['account', 'create', '--server', url, '--user', 'alice', '--device-name', 'desk']);
  await brJson('bob', ['account', 'create', '--server', url, '--user', 'bob', '--device-name', 'laptop']);
}, 120_000);

afterAll(async () => {
  if (relay && relay.exitCode === null) {
    relay.kill('SIGTERM');
    await new Promise((r) => relay.once('exit', r));
  }
  await rm(tmp, { recursive: true, force: true });
});

describe('new-user frictions (review ux-2026-12), through real processes', () => {
  it('F1: a 1 MB message from standard input (and --file) arrives intact; larger ones and empty ones are refused clearly', async () => {
    // 1,000,000 bytes of text, more than one shell argument can carry (128 KiB on Linux).
    const text = randomBytes(750_000).toString('base64');
    expect(Buffer.byteLength(text)).toBe(1_000_000);
    const sent = await brJson('alice', ['send', 'bob', '-'], { input: text });
    expect(sent).toMatchObject({ to: 'bob', devices: 1 });
    const file = join(tmp, 'note.txt');
    await writeFile(file, 'from a file\nsecond line\n');
    await brJson('alice', ['send', 'bob', '--file', file]);
    const got = await receiveJson('bob');
    expect(got.map((m) => m.text)).toEqual([text, 'from a file\nsecond line']); // one trailing newline dropped
    // One byte more than the limit: refused before anything is encrypted, with the sizes and what to do instead.
    await expectFailure('alice', ['send', 'bob', '-'], 'ERR_MESSAGE_TOO_LARGE', /too large: 1000001 bytes of text, at most 1000000.*file put/, {
      input: `${text}x`,
    });
    await expectFailure('alice', ['send', 'bob', ''], 'ERR_INVALID_ARGUMENT', /the message is empty/);
    await expectFailure('alice', ['send', 'bob', '--file', join(tmp, 'missing.txt')], 'ERR_INVALID_ARGUMENT', /cannot read .*missing\.txt: no such file/);
    expect(await receiveJson('bob')).toEqual([]);
    const help = await br('alice', ['send', '--help']);
    expect(help.stdout).toMatch(/1,000,000 bytes/);
    expect(help.stdout).toMatch(/--file <path>/);
  });

  it('F6, F8, F14, F15: bad input names the field and the value in words', async () => {
    await expectFailure('bob', ['file', 'get', 'not-an-id'], 'ERR_INVALID_ARGUMENT', /not a file id: "not-an-id" \(a file id is 22 letters/);
    await expectFailure('bob', ['file', 'get', '../../etc/passwd'], 'ERR_INVALID_ARGUMENT', /not a file id/);
    await expectFailure('alice', ['send', 'bbo', 'typo'], 'ERR_NO_SUCH_USER', /^blindrelay: unknown user: bbo /, { json: false });
    await expectFailure('alice', ['file', 'put', join(tmp, 'note.txt'), '--to', 'nobodyy'], 'ERR_NO_SUCH_USER', /unknown user: nobodyy /);
    await expectFailure('alice', ['send', 'Bob', 'hi'], 'ERR_INVALID_ARGUMENT', /not a user name: "Bob" \(1 to 64 lowercase letters.*did you mean bob\?/);
    const port = url.replace(/^http:\/\//, '');
    await expectFailure('carol', ['account', 'create', '--server', port, '--user', 'carol'], 'ERR_INVALID_ARGUMENT', new RegExp(`did you mean http://${port}`));
    expect(existsSync(home('carol'))).toBe(false);
    // F23: a create that fails at the relay leaves no empty --home behind.
    await expectFailure('carol', ['account', 'create', '--server', 'http://127.0.0.1:1', '--user', 'carol'], 'ERR_UNREACHABLE', /no relay server answered/);
    expect(existsSync(home('carol'))).toBe(false);
  });

  it('F10: a message to yourself with no other device is refused, not "sent to alice (0 devices)"', async () => {
    await expectFailure('alice', ['send', 'alice', 'note to self'], 'ERR_INVALID_ARGUMENT', /nothing was sent: a message to yourself .* only device/);
  });

  it('F9, F18: the passphrase is per profile, has a minimum, and every profile command help mentions it', async () => {
    // Exported for an encrypted profile, it must not break alice's unencrypted one.
    const who = await br('alice', ['whoami', '--json'], { env: { BLINDRELAY_PASSPHRASE: 'a passphrase for another profile' } });
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ user: 'alice', encrypted: false });
    expect(who.stderr).toMatch(/not encrypted: BLINDRELAY_PASSPHRASE is not used for it/);
    // Too short to encrypt a new profile: refused, nothing created (not even the profile directory).
    await expectFailure('dave', ['account', 'create', '--server', url, '--user', 'dave'], 'ERR_INVALID_ARGUMENT', /too short.*at least 10 characters/, {
      env: { BLINDRELAY_PASSPHRASE: 'x' },
    });
    expect(existsSync(join(home('dave'), 'default'))).toBe(false);
    for (const cmd of [['account', 'create'], ['send'], ['whoami']]) {
      const help = await br('alice', [...cmd, '--help']);
      expect(help.stdout, cmd.join(' ')).toMatch(/BLINDRELAY_PASSPHRASE/);
      expect(help.stdout, cmd.join(' ')).toMatch(/--home <dir>/); // global options too
    }
    // `help file put` is the help of `file put`, not of the `file` group.
    const nested = await br('alice', ['help', 'file', 'put']);
    expect(nested.code).toBe(0);
    expect(nested.stdout).toMatch(/^Usage: blindrelay file put /);
  });

  it('F12: device link for a user that does not exist fails at once', async () => {
    const t0 = Date.now();
    await expectFailure('nobody-phone', ['device', 'link', '--server', url, '--user', 'nosuchuser'], 'ERR_NO_SUCH_USER', /unknown user: nosuchuser/);
    expect(Date.now() - t0).toBeLessThan(15_000); // two runs; it used to wait 10 minutes
    expect(existsSync(join(home('nobody-phone'), 'default'))).toBe(false);
  });

  it('F5, F7, F13: approve says who asks and refuses another user; device list names every device; a used code is explained', async () => {
    const link = start(['--home', home('bob-phone'), 'device', 'link', '--server', url, '--user', 'bob', '--device-name', 'phone', '--json']);
    const done = finish(link);
    const { code, sas } = JSON.parse(await waitForLine(link.stdout as NodeJS.ReadableStream, /^\{/));
    // Alice's primary is handed bob's code: refused before anything is sent, naming both users.
    await expectFailure(
      'alice',
      ['device', 'approve', code, '--sas', sas],
      'ERR_LINK_WRONG_USER',
      /asks to join bob, but this device belongs to alice: nothing was sent/,
    );
    // --yes alone is not a confirmation: the comparison code is.
    const yes = await br('bob', ['device', 'approve', code, '--yes']);
    expect(yes.code).toBe(1);
    expect(yes.stderr).toMatch(/the new device "phone" asks to join bob.*--sas.*--yes does not replace it/);
    const approved = await brJson('bob', ['device', 'approve', code, '--yes', '--sas', sas]);
    expect(approved).toMatchObject({ approved: true, user: 'bob', deviceName: 'phone' });
    const linked = await done;
    expect(linked.code, linked.stderr).toBe(0);
    // Both devices list both names.
    const laptop = await br('bob', ['device', 'list']);
    expect(laptop.stdout).toMatch(/\d+ {2}laptop {2}\(this device\)/);
    expect(laptop.stdout).toMatch(new RegExp(`${approved.deviceId} {2}phone\\n`));
    const phone = await brJson('bob-phone', ['device', 'list']);
    expect(phone.devices).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'laptop', current: false }), expect.objectContaining({ name: 'phone', current: true })]),
    );
    await expectFailure('bob', ['device', 'approve', code, '--sas', sas], 'ERR_INVALID_LINK_CODE', /this link code was already used/);
  });

  it('F11: -o DIR/ writes into the directory, or refuses when there is none', async () => {
    const src = join(tmp, 'report.txt');
    await writeFile(src, 'quarterly numbers');
    const put = await brJson('alice', ['file', 'put', src, '--to', 'bob']);
    const missing = join(tmp, 'no-such-dir/');
    await expectFailure('bob', ['file', 'get', put.id as string, '-o', missing], 'ERR_INVALID_ARGUMENT', /no such directory: .*no-such-dir\//);
    expect(existsSync(join(tmp, 'no-such-dir'))).toBe(false);
    const dir = join(tmp, 'downloads');
    await mkdir(dir);
    const got = await brJson('bob', ['file', 'get', put.id as string, '-o', `${dir}/`]);
    expect(got.path).toBe(join(dir, 'report.txt'));
    expect(await readFile(join(dir, 'report.txt'), 'utf8')).toBe('quarterly numbers');
  });

  it('F20: multi-line and emoji text print as text; escapes, CR and bidi overrides stay neutralised', async () => {
    const family = '👨\u200d👩\u200d👧';
    const scotland = '🏴\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f}';
    const text = `first line\nsecond ${family} ${scotland}\n[2026-01-01 00:00:00Z] mallory (device 1): forged?\u001b[31m red\rCR \u202eevil`;
    await brJson('alice', ['send', 'bob', '-'], { input: text });
    const r = await br('bob-phone', ['receive']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    const at = lines.findIndex((l) => l.endsWith(': first line'));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(lines[at + 1]).toBe(`    second ${family} ${scotland}`);
    // The continuation is indented: it cannot pass for a line of its own; ESC, CR and RLO are escaped.
    expect(lines[at + 2]).toBe('    [2026-01-01 00:00:00Z] mallory (device 1): forged?\\u{1b}[31m red\\u{d}CR \\u{202e}evil');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: no raw control character may reach the terminal
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
  });

  it('F19: relay logs have level names and ISO times, and one start-up line', () => {
    const lines = relayLog
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: unknown; time: unknown; msg: string; address?: string });
    expect(lines.every((l) => ['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(l.level as string))).toBe(true);
    expect(lines.every((l) => typeof l.time === 'string' && !Number.isNaN(Date.parse(l.time)))).toBe(true);
    const startup = lines.filter((l) => /listening/i.test(l.msg));
    expect(startup).toHaveLength(1);
    expect(startup[0]).toMatchObject({ level: 'info', msg: 'listening', address: url, storage: 'sqlite' });
  });

  it('F4: an unusable --data path fails at once with a clear error (no spin)', async () => {
    // For scale, a --data path that always failed at once (under a regular file: ENOTDIR), then
    // the one that used to spin forever (/proc refuses mkdir with ENOENT): at most a second more.
    const file = join(tmp, 'a-file');
    await writeFile(file, '');
    const t0 = Date.now();
    const under = await finish(start(['server', '--port', '0', '--data', join(file, 'relay')]));
    const baseline = Date.now() - t0;
    expect(under.code).toBe(1);
    expect(under.stderr).toMatch(/cannot use the data directory .*a-file\/relay: .*a-file: .*\(ENOTDIR\)/);
    const t1 = Date.now();
    const bad = await finish(start(['server', '--port', '0', '--data', '/proc/nope/relay']));
    const elapsed = Date.now() - t1;
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cannot use the data directory \/proc\/nope\/relay: \/proc\/nope: .*\(ENOENT\)/);
    expect(elapsed - baseline, `bad --data took ${elapsed} ms, --data under a file ${baseline} ms`).toBeLessThan(1000);
  });

  it('F3: SIGTERM to `npm start` leaves no process on the port', async () => {
    const port = await freePort();
    const data = join(tmp, 'npm-start-data');
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: { ...process.env, BLINDRELAY_PORT: String(port), BLINDRELAY_DATA: data, BLINDRELAY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const npmDone = finish(npm);
    await waitForLine(npm.stdout as NodeJS.ReadableStream, /^listening on /, 30_000);
    expect(await portOpen(port)).toBe(true);
    npm.kill('SIGTERM');
    await npmDone;
    // npm exits at once without passing SIGTERM on; the relay notices its parent is gone and closes.
    const deadline = Date.now() + 5_000;
    while ((await portOpen(port)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await portOpen(port), 'the relay is still listening after npm start got SIGTERM').toBe(false);
    // It closed cleanly: the database was checkpointed (no WAL left).
    const wal = async () => (await readdir(data)).filter((f) => f.endsWith('-wal'));
    while ((await wal()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await wal()).toEqual([]);
  });
});
