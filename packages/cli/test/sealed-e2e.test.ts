/**
 * Sealed sender from the command line (docs/PROTOCOL.md §20): the real relay and CLI as child
 * processes. The first message goes on the authenticated path and hands over the sender's delivery
 * token; the reply goes sealed (the relay's access log shows POST /v1/sealed/messages) and
 * `receive` still shows the verified sender; `delivery-token rotate --revoke` and `block` answer.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finish, type Result, start, waitForLine } from './harness.js';

let tmp: string;
let relay: ChildProcess;
let relayLog = '';
let url: string;

function br(who: string, ...args: string[]): Promise<Result> {
  return finish(start(['--home', join(tmp, who), ...args]));
}
async function brJson(who: string, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await br(who, ...args, '--json');
  expect(r.code, `${who} ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
  return JSON.parse(r.stdout.trim());
}
async function receive(who: string): Promise<Record<string, unknown>[]> {
  const r = await br(who, 'receive', '--json');
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l));
}
const sealedPosts = () => relayLog.split('\n').filter((l) => l.includes('/v1/sealed/messages') && l.includes('POST')).length;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'br-sealed-e2e-'));
  relay = start(['server', '--port', '0', '--data', join(tmp, 'relay-data'), '--log-level', 'info']);
  // Access lines go to stderr: {"method":"POST","route":"/v1/sealed/messages",...}.
  relay.stderr?.on('data', (d) => {
    relayLog += d;
  });
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

describe('sealed sender from the CLI', () => {
  it('first contact authenticated, reply sealed, receive shows the verified sender; rotate, block, unblock', async () => {
    const created = await Promise.all(['alice', 'bob'].map((who) => br(who, 'account', 'create', '--server', url, '--user', who)));
    expect(created.map((r) => r.code)).toEqual([0, 0]);
    await brJson('alice', 'send', 'bob', 'hello bob');
    expect(sealedPosts()).toBe(0);
    expect((await receive('bob')).map((m) => m.text)).toEqual(['hello bob']);
    await brJson('bob', 'send', 'alice', 'hi alice');
    expect(sealedPosts()).toBe(1);
    const got = await receive('alice');
    expect(got).toEqual([expect.objectContaining({ from: 'bob', to: 'alice', text: 'hi alice' })]);

    // The commands (their effects are tested in the SDK: packages/client/test/sealed.test.ts).
    expect(await brJson('alice', 'delivery-token', 'rotate', '--revoke')).toEqual({ rotated: true, revoked: true });
    expect(await brJson('alice', 'block', 'bob')).toEqual({ blocked: 'bob' });
  }, 120_000);
});
