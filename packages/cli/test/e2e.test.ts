/**
 * End to end, exactly as a user runs it: the real relay (`blindrelay server`) and the real CLI as
 * child processes, each device with its own --home. Alice has one device (with an encrypted
 * profile), Bob two (linked with device link / approve). Carol talks through a relay that turns
 * malicious half way (a proxy in this process that substitutes Alice's keys).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finish, type Result, start, waitForLine } from './harness.js';

const PASSPHRASE = 'alice has a long passphrase';

let tmp: string;
let relay: ChildProcess;
let url: string;
const home = (name: string) => join(tmp, name);

/** Run `blindrelay --home <tmp>/<who> ARGS` to completion. */
function br(who: string, ...args: string[]): Promise<Result> {
  const env: Record<string, string> = who === 'alice' ? { BLINDRELAY_PASSPHRASE: PASSPHRASE } : {};
  return finish(start(['--home', home(who), ...args], env));
}

/** Run with --json, expect exit 0, and parse the single JSON object. */
async function brJson(who: string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await br(who, ...args, '--json');
  expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0] as string);
}

/** `receive --json` lines. */
async function receive(who: string, ...args: string[]): Promise<Record<string, unknown>[]> {
  const r = await br(who, 'receive', '--json', ...args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
}

/** Expect a failure with a one-line message on stderr (human) and the JSON error (with --json). */
async function expectFailure(who: string, code: string, ...args: string[]): Promise<void> {
  const human = await br(who, ...args);
  expect(human.code).toBe(1);
  expect(human.stdout).toBe('');
  expect(human.stderr.trim().split('\n')).toHaveLength(1);
  expect(human.stderr).toMatch(/^blindrelay: /);
  expect(human.stderr).not.toMatch(/\n\s+at /); // no stack trace
  const json = await br(who, ...args, '--json');
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout)).toEqual({ error: { code, message: expect.any(String) } });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'br-e2e-'));
  relay = start(['server', '--port', '0', '--data', join(tmp, 'relay-data'), '--log-level', 'warn']);
  const line = await waitForLine(relay.stdout as NodeJS.ReadableStream, /^listening on /);
  url = line.replace('listening on ', '').trim();
});

afterAll(async () => {
  if (relay && relay.exitCode === null) {
    relay.kill('SIGTERM');
    await new Promise((r) => relay.once('exit', r));
  }
  await rm(tmp, { recursive: true, force: true });
});

describe('blindrelay CLI end to end', () => {
  const ids: Record<string, number> = {};

  it('creates accounts (alice encrypted at rest, bob not, and told so)', async () => {
    const [alice, bob] = await Promise.all([
      br('alice', 'account', 'create', '--server', url, '--user', 'alice', '--device-name', 'laptop', '--json'),
      br('bob', 'account', 'create', '--server', url, '--user', 'bob', '--device-name', 'phone'),
    ]);
    expect(alice.code, alice.stderr).toBe(0);
    const a = JSON.parse(alice.stdout);
    expect(a).toMatchObject({ user: 'alice', deviceName: 'laptop', server: url, encrypted: true });
    ids.alice = a.deviceId;
    expect(alice.stderr).toBe('');
    expect(bob.code, bob.stderr).toBe(0);
    expect(bob.stdout).toMatch(/^created bob, device \d+ \(phone\)/);
    expect(bob.stderr).toMatch(/warning: BLINDRELAY_PASSPHRASE is not set.*NOT encrypted/);
    // Alice's private keys are not readable on disk; bob's profile is plain but 0600.
    const aliceAccount = await readFile(join(home('alice'), 'default', 'account.bin'));
    expect(aliceAccount.subarray(0, 4).toString()).toBe('BRV1');
    expect(aliceAccount.toString('latin1')).not.toContain('masterSeed');
    const who = await brJson('bob', 'whoami');
    expect(who).toMatchObject({ user: 'bob', server: url, encrypted: false });
    ids.bob1 = who.deviceId as number;
    // The name is taken now.
    await expectFailure('mallory', 'ERR_USER_TAKEN', 'account', 'create', '--server', url, '--user', 'bob');
  });

  it('links a second device for bob (device link / device approve)', async () => {
    const link = start(['--home', home('bob2'), 'device', 'link', '--server', url, '--user', 'bob', '--device-name', 'tablet', '--json']);
    const done = finish(link);
    const first = await waitForLine(link.stdout as NodeJS.ReadableStream, /^\{/);
    const { code, sas } = JSON.parse(first);
    // The fourth part names the user and device asking (base64url JSON, review ux-2026-12 F5).
    expect(code).toMatch(/^BR1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(code.split('.')[3], 'base64url').toString())).toEqual({ u: 'bob', n: 'tablet' });
    expect(sas).toMatch(/^\d{6}$/);
    // The comparison code must be confirmed (review L5): without it, or with another one, nothing is sent.
    const unconfirmed = await br('bob', 'device', 'approve', code);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toMatch(/read and send as bob.*--sas/);
    const wrong = String((Number(sas) + 1) % 1_000_000).padStart(6, '0');
    await expectFailure('bob', 'ERR_LINK_NOT_CONFIRMED', 'device', 'approve', code, '--sas', wrong);
    const approved = await brJson('bob', 'device', 'approve', code, '--sas', `${sas.slice(0, 3)} ${sas.slice(3)}`);
    expect(approved).toMatchObject({ approved: true, user: 'bob', sas });
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    const linked = JSON.parse(lines[1] as string);
    expect(linked).toMatchObject({ user: 'bob', deviceName: 'tablet', server: url });
    ids.bob2 = linked.deviceId;
    const list = await brJson('bob', 'device', 'list');
    expect(list).toMatchObject({ user: 'bob', version: 2 });
    expect((list.devices as { deviceId: number }[]).map((d) => d.deviceId).sort()).toEqual([ids.bob1, ids.bob2].sort());
    // A code is single use.
    await expectFailure('bob', 'ERR_INVALID_LINK_CODE', 'device', 'approve', code, '--sas', sas);
  });

  it('sends both ways, to every device of bob, with own-device sync', async () => {
    const sent = await brJson('alice', 'send', 'bob', 'hello bob');
    expect(sent).toMatchObject({ to: 'bob', devices: 2, ownDevices: 0 });
    const [b1, b2] = await Promise.all([receive('bob'), receive('bob2')]);
    for (const [got, _device] of [
      [b1, ids.bob1],
      [b2, ids.bob2],
    ] as const) {
      expect(got).toEqual([{ id: sent.id, from: 'alice', fromDevice: ids.alice, to: 'bob', text: 'hello bob', sentAt: sent.sentAt, sync: false }]);
    }
    const reply = await br('bob', 'send', 'alice', 'hi alice, bob here');
    expect(reply.code, reply.stderr).toBe(0);
    expect(reply.stdout.trim()).toBe('sent to alice (1 device), synced to 1 other device of yours');
    const [a, s] = await Promise.all([receive('alice'), receive('bob2')]);
    expect(a).toEqual([expect.objectContaining({ from: 'bob', fromDevice: ids.bob1, to: 'alice', text: 'hi alice, bob here', sync: false })]);
    // bob's second device sees what bob's first device sent, and to whom.
    expect(s).toEqual([expect.objectContaining({ id: a[0]?.id, from: 'bob', fromDevice: ids.bob1, to: 'alice', text: 'hi alice, bob here', sync: true })]);
    // The second device talks too; the first sees the sync copy (human output).
    expect((await br('bob2', 'send', 'alice', 'and from the tablet')).code).toBe(0);
    const human = await br('bob', 'receive');
    expect(human.stdout).toMatch(new RegExp(`^\\[[^\\]]+\\] you \\(device ${ids.bob2}\\) -> alice: and from the tablet\\n$`));
    expect((await receive('alice')).map((m) => m.text)).toEqual(['and from the tablet']);
    expect(await receive('alice')).toEqual([]); // nothing twice
  });

  it('delivers to a device that was offline, and pushes live messages over the WebSocket', async () => {
    // bob2 is not running while alice sends.
    await brJson('alice', 'send', 'bob', 'while you were away 1');
    await brJson('alice', 'send', 'bob', 'while you were away 2');
    // bob (first device) listens; alice sends while it waits.
    const listener = start(['--home', home('bob'), 'receive', '--wait', '5', '--json']);
    const listened = finish(listener);
    await waitForLine(listener.stderr as NodeJS.ReadableStream, /^listening for new messages/);
    await brJson('alice', 'send', 'bob', 'live');
    const r = await listened;
    expect(r.code, r.stderr).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).text),
    ).toEqual(['while you were away 1', 'while you were away 2', 'live']);
    // bob2 comes back online later and gets everything, in order.
    expect((await receive('bob2')).map((m) => m.text)).toEqual(['while you were away 1', 'while you were away 2', 'live']);
  });

  it('shows the same safety number on both sides; verify accepts only the right one', async () => {
    const [a, b, b2] = await Promise.all([
      brJson('alice', 'safety-number', 'bob'),
      brJson('bob', 'safety-number', 'alice'),
      brJson('bob2', 'safety-number', 'alice'),
    ]);
    expect(a.safetyNumber).toMatch(/^\d{60}$/);
    expect(b.safetyNumber).toBe(a.safetyNumber);
    expect(b2.safetyNumber).toBe(a.safetyNumber);
    expect(a).toMatchObject({ user: 'bob', verified: false, keyChanged: false });
    await expectFailure('alice', 'ERR_SAFETY_NUMBER_MISMATCH', 'verify', 'bob', '0'.repeat(60));
    const human = await br('alice', 'safety-number', 'bob');
    const groups = human.stdout.match(/\d{5}/g) ?? [];
    expect(groups.join('')).toBe(a.safetyNumber);
    // Pasting the number as shown (12 groups of 5) works.
    const v = await br('alice', 'verify', 'bob', ...groups);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout.trim()).toBe('bob is verified: the safety number matches');
    expect(await brJson('alice', 'safety-number', 'bob')).toMatchObject({ verified: true });
  });

  it('revokes a device: it can no longer receive, and peers stop encrypting to it', async () => {
    const revoked = await brJson('bob', 'device', 'revoke', String(ids.bob2));
    expect(revoked).toMatchObject({ revoked: ids.bob2, version: 3 });
    expect((revoked.devices as { deviceId: number }[]).map((d) => d.deviceId)).toEqual([ids.bob1]);
    await expectFailure('bob2', 'ERR_NOT_REGISTERED', 'receive');
    expect(await brJson('alice', 'send', 'bob', 'after the revocation')).toMatchObject({ devices: 1 });
    expect((await receive('bob')).map((m) => m.text)).toEqual(['after the revocation']);
    expect(await brJson('bob', 'send', 'alice', 'only me now')).toMatchObject({ devices: 1, ownDevices: 0 });
    expect((await receive('alice')).map((m) => m.text)).toEqual(['only me now']);
  });

  it('refuses to send when the master key changed, until verify or --accept-new-key', async () => {
    // Bob's profile pins a different master key for alice than the one the relay serves (as if
    // alice's key had been replaced since bob first met her).
    const contactsPath = join(home('bob'), 'default', 'contacts.json');
    const pinOther = async () => {
      const rec = JSON.parse(await readFile(contactsPath, 'utf8'));
      const entry = rec.data.contacts.$m.find(([user]: [string]) => user === 'alice')[1];
      entry.masterKey = { $b: Buffer.from(createNodePrimitives().randomBytes(32)).toString('base64url') };
      entry.deviceList = null;
      await writeFile(contactsPath, JSON.stringify(rec), { mode: 0o600 });
    };
    await pinOther();
    await expectFailure('bob', 'ERR_KEY_CHANGED', 'send', 'alice', 'refused');
    const changed = await brJson('bob', 'safety-number', 'alice');
    const aliceView = await brJson('alice', 'safety-number', 'bob');
    expect(changed).toMatchObject({ keyChanged: true, newSafetyNumber: aliceView.safetyNumber });
    expect((await br('bob', 'safety-number', 'alice')).stdout).toMatch(/WARNING: the relay now serves a DIFFERENT master key for alice/);
    // Comparing with alice and verifying the new number unblocks.
    expect(await brJson('bob', 'verify', 'alice', aliceView.safetyNumber as string)).toMatchObject({ verified: true });
    expect(await brJson('bob', 'send', 'alice', 'after verify')).toMatchObject({ devices: 1 });
    // Or the user accepts the new key explicitly (unverified).
    await pinOther();
    await expectFailure('bob', 'ERR_KEY_CHANGED', 'send', 'alice', 'refused again');
    expect(await brJson('bob', 'send', 'alice', 'accepted', '--accept-new-key')).toMatchObject({ devices: 1 });
    expect(await brJson('bob', 'safety-number', 'alice')).toMatchObject({ verified: false, keyChanged: false, safetyNumber: aliceView.safetyNumber });
    expect((await receive('alice')).map((m) => m.text)).toEqual(['after verify', 'accepted']);
  });

  it('detects a relay that substitutes keys (MITM proxy), and recovers when it stops', async () => {
    // Eve's master key and a device list for "alice" signed with it.
    const p = createNodePrimitives();
    const eve = await P.generateMasterKey(p);
    const eveDevice = await P.generateDeviceKeys(p);
    const eveEntry = await P.proveDeviceEntry(p, 'alice', eve.publicKey, P.deviceEntryOf(eveDevice), eveDevice.signing.seed);
    const eveList = await P.signDeviceList(p, 'alice', eve, { version: 50, issuedAt: Date.now() }, [eveEntry]);
    let evil = false;
    const upstream = new URL(url);
    const proxy: Server = createServer((req, res) => {
      if (evil && req.method === 'GET' && req.url === '/v1/users/alice') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            user: 'alice',
            masterKey: Buffer.from(eve.publicKey).toString('base64url'),
            deviceList: Buffer.from(eveList).toString('base64url'),
          }),
        );
        return;
      }
      const fwd = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      fwd.on('error', () => res.destroy());
      req.pipe(fwd);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      await brJson('carol', 'account', 'create', '--server', proxyUrl, '--user', 'carol');
      await brJson('carol', 'send', 'alice', 'hi alice, carol here'); // pins alice's real key
      const aliceView = await brJson('alice', 'safety-number', 'carol');
      evil = true;
      await expectFailure('carol', 'ERR_KEY_CHANGED', 'send', 'alice', 'this would go to eve');
      const seen = await brJson('carol', 'safety-number', 'alice');
      expect(seen).toMatchObject({ keyChanged: true, safetyNumber: aliceView.safetyNumber });
      expect(seen.newSafetyNumber).not.toBe(aliceView.safetyNumber); // the fake key's number will not match alice's
      evil = false;
      // Carol compares with alice: the number alice reads out confirms the pinned key.
      expect(await brJson('carol', 'verify', 'alice', aliceView.safetyNumber as string)).toMatchObject({ verified: true });
      expect(await brJson('carol', 'send', 'alice', 'verified')).toMatchObject({ devices: 1 });
      expect((await receive('alice')).map((m) => `${m.from}: ${m.text}`)).toEqual(['carol: hi alice, carol here', 'carol: verified']);
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('reports errors as one line (or JSON with --json), with the right exit codes', async () => {
    await expectFailure('nobody', 'ERR_NO_PROFILE', 'whoami');
    await expectFailure('bob', 'ERR_NO_SUCH_USER', 'send', 'no-such-user', 'hello?');
    await expectFailure('bob', 'ERR_INVALID_LINK_CODE', 'device', 'approve', 'BR1.nope');
    const wrong = await finish(start(['--home', home('alice'), 'whoami', '--json'], { BLINDRELAY_PASSPHRASE: 'wrong' }));
    expect(wrong.code).toBe(1);
    expect(JSON.parse(wrong.stdout)).toEqual({ error: { code: 'ERR_WRONG_PASSPHRASE', message: 'wrong passphrase for this profile' } });
    const usage = await br('bob', 'send', '--json');
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout).error.code).toBe('ERR_USAGE');
    const unknown = await br('bob', 'frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
