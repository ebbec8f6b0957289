/**
 * Custody end to end (issue 11; docs/PROTOCOL.md §16), as a user runs it: the real relay and the
 * real CLI as child processes. Alice creates her account (the primary) and links a companion;
 * the companion cannot approve or revoke devices (ERR_NOT_PRIMARY) and `whoami --json` says which
 * is which; bob's messages reach both of alice's devices; after `device revoke` on the primary the
 * companion can no longer receive, approve or list itself; after `account rotate-master-key` bob's
 * sends are refused (ERR_KEY_CHANGED) until he verifies the new safety number.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finish, type Result, start, waitForLine } from './harness.js';

let tmp: string;
let relay: ChildProcess;
let url: string;
const home = (name: string) => join(tmp, name);
const br = (who: string, ...args: string[]): Promise<Result> => finish(start(['--home', home(who), ...args]));

async function brJson(who: string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await br(who, ...args, '--json');
  expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

/** A failure with the given code in --json, and one clear line on stderr without it. */
async function expectFailure(who: string, code: string, ...args: string[]): Promise<string> {
  const json = await br(who, ...args, '--json');
  expect(json.code, json.stdout).toBe(1);
  expect(JSON.parse(json.stdout)).toEqual({ error: { code, message: expect.any(String) } });
  const human = await br(who, ...args);
  expect(human.code).toBe(1);
  expect(human.stderr.trim().split('\n'), human.stderr).toHaveLength(1);
  expect(human.stderr).not.toMatch(/\n\s+at /);
  return human.stderr;
}

type Line = { text?: string; failure?: { fromDevice: number; reason?: string } };
const receiveLines = async (who: string): Promise<Line[]> => {
  const r = await br(who, 'receive', '--json');
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Line);
};
const texts = async (who: string) => (await receiveLines(who)).filter((l) => l.text !== undefined).map((l) => l.text);

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'br-custody-e2e-'));
  relay = start(['server', '--port', '0', '--data', join(tmp, 'relay-data'), '--log-level', 'warn']);
  url = (await waitForLine(relay.stdout as NodeJS.ReadableStream, /^listening on /)).replace('listening on ', '').trim();
});
afterAll(async () => {
  if (relay && relay.exitCode === null) {
    relay.kill('SIGTERM');
    await new Promise((r) => relay.once('exit', r));
  }
  await rm(tmp, { recursive: true, force: true });
});

describe('custody end to end', () => {
  const ids: Record<string, number> = {};
  let pendingCode = '';

  it('alice (primary) links a companion; the companion cannot approve; whoami says which is primary', async () => {
    expect((await br('alice', 'account', 'create', '--server', url, '--user', 'alice')).code).toBe(0);
    expect((await br('bob', 'account', 'create', '--server', url, '--user', 'bob')).code).toBe(0);
    const link = start(['--home', home('alice2'), 'device', 'link', '--server', url, '--user', 'alice', '--json']);
    const done = finish(link);
    const { code, sas } = JSON.parse(await waitForLine(link.stdout as NodeJS.ReadableStream, /^\{/));
    const approved = await brJson('alice', 'device', 'approve', code, '--sas', sas);
    expect(approved).toMatchObject({ approved: true, user: 'alice' });
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    ids.companion = JSON.parse(r.stdout.trim().split('\n').pop() as string).deviceId;
    expect(approved.deviceId).toBe(ids.companion);

    const primary = await brJson('alice', 'whoami');
    const companion = await brJson('alice2', 'whoami');
    expect(primary).toMatchObject({ user: 'alice', primary: true });
    expect(companion).toMatchObject({ user: 'alice', primary: false, deviceId: ids.companion });
    ids.alice = primary.deviceId as number;

    // A third device shows a code; the companion is asked to approve it: refused, clearly, nothing sent.
    const third = start(['--home', home('alice3'), 'device', 'link', '--server', url, '--user', 'alice', '--json']);
    const thirdDone = finish(third);
    const shown = JSON.parse(await waitForLine(third.stdout as NodeJS.ReadableStream, /^\{/));
    pendingCode = shown.code;
    const stderr = await expectFailure('alice2', 'ERR_NOT_PRIMARY', 'device', 'approve', shown.code, '--sas', shown.sas);
    expect(stderr).toMatch(/approving a new device needs the primary device.*companion/);
    third.kill('SIGTERM');
    await thirdDone;
    await expectFailure('alice2', 'ERR_NOT_PRIMARY', 'device', 'revoke', String(ids.alice));
    await expectFailure('alice2', 'ERR_NOT_PRIMARY', 'account', 'rotate-master-key');
    expect(((await brJson('alice', 'device', 'list')).devices as unknown[]).length).toBe(2);
  });

  it('bob sends; both of alice’s devices receive it', async () => {
    expect((await br('bob', 'send', 'alice', 'hello alice')).code).toBe(0);
    expect(await texts('alice')).toEqual(['hello alice']);
    expect(await texts('alice2')).toEqual(['hello alice']);
    // The companion sends too (its own certificate, no master key needed).
    expect((await br('alice2', 'send', 'bob', 'from the companion')).code).toBe(0);
    expect(await texts('bob')).toEqual(['from the companion']);
  });

  it('revoke on the primary: the companion can no longer receive, approve or see its list', async () => {
    const revoked = await brJson('alice', 'device', 'revoke', String(ids.companion));
    expect(revoked).toMatchObject({ revoked: ids.companion, rekeyed: [], rekeyFailed: [] });
    expect((revoked.devices as { deviceId: number }[]).map((d) => d.deviceId)).toEqual([ids.alice]);
    await expectFailure('alice2', 'ERR_NOT_REGISTERED', 'receive');
    await expectFailure('alice2', 'ERR_NOT_PRIMARY', 'device', 'approve', pendingCode, '--sas', '000000');
    expect((await br('bob', 'send', 'alice', 'after revoke')).code).toBe(0);
    expect(await texts('alice')).toEqual(['after revoke']);
    // Its send fails (nothing leaves: the relay no longer knows the device). The sync copy of its
    // earlier message, still queued for the primary, arrives after the revocation and is refused
    // there as from an unlisted device, never shown as a message.
    expect((await br('alice2', 'send', 'bob', 'still here?')).code).toBe(1);
    const lines = await receiveLines('alice');
    expect(lines.filter((l) => l.text !== undefined)).toEqual([]);
    for (const l of lines) expect(l.failure).toMatchObject({ fromDevice: ids.companion, reason: 'ERR_UNTRUSTED_DEVICE' });
  });

  it('rotate-master-key: bob’s send refuses the key change until he verifies the new safety number', async () => {
    const before = await brJson('bob', 'safety-number', 'alice');
    const rotated = await brJson('alice', 'account', 'rotate-master-key');
    expect(rotated).toMatchObject({ rotated: true, kept: [ids.alice], dropped: [] });
    await expectFailure('bob', 'ERR_KEY_CHANGED', 'send', 'alice', 'refused');
    const numbers = await brJson('bob', 'safety-number', 'alice');
    expect(numbers).toMatchObject({ keyChanged: true });
    expect(numbers.newSafetyNumber).not.toBe(before.safetyNumber);
    // Alice's side shows the new number too; bob verifies it.
    const mine = await brJson('alice', 'safety-number', 'bob');
    expect(mine.safetyNumber).toBe(numbers.newSafetyNumber);
    expect(await brJson('bob', 'verify', 'alice', numbers.newSafetyNumber as string)).toMatchObject({ verified: true });
    expect((await br('bob', 'send', 'alice', 'verified again')).code).toBe(0);
    const lines = await receiveLines('alice');
    expect(lines.filter((l) => l.text !== undefined).map((l) => l.text)).toEqual(['verified again']);
    // (the revoked companion's parked copy is retried as alice's own contact changed: still refused)
    for (const l of lines.filter((x) => x.failure)) expect(l.failure).toMatchObject({ fromDevice: ids.companion, reason: 'ERR_UNTRUSTED_DEVICE' });
  });
});
