/**
 * Review finding M3 (client half), security-2026-12.md: the SDK and CLI accepted plain `http://`
 * to any host, and a bearer token alone allowed irrecoverable, user-wide destruction.
 *
 * The attacks:
 * - a user points the SDK or CLI at `http://<another machine>` (here: this machine's own
 *   non-loopback address, with a listener counting every request): a network observer would read
 *   the bearer tokens;
 * - an observer who captured a bearer token replays it against a real relay to acknowledge
 *   (delete) the victim's queued messages, over HTTP and over the WebSocket, to delete and re-key
 *   the victim's files, and to revoke the victim's other device;
 * - an observer who captured a whole signed request replays it, or grafts its signature onto
 *   another request.
 *
 * What stops it now:
 * - `http://` is refused before anything is sent unless the host is this machine (127.0.0.0/8,
 *   ::1, localhost) or the user opted in (SDK `allowInsecureHttp`, CLI `--insecure-http` or
 *   BLINDRELAY_INSECURE_HTTP=1), which then warns on stderr; the error is InsecureTransportError
 *   (ERR_INSECURE_TRANSPORT) and says what to do;
 * - acks (HTTP and WebSocket), file deletion, header replacement and new versions need a fresh
 *   `Blindrelay-Signature` by the device signing key (docs/API.md §2a), checked by the relay
 *   against the device's key in the current list: a token alone gets 401 `signature_required`;
 *   revoking a device needs a list signed by the master key, which no token gives;
 * - the relay keeps the nonce of every signed request it accepted (until its timestamp leaves the
 *   ±120 s window): the same request again is 401 `replayed_signature`; the signature covers
 *   method, path and a hash of the body, so on any other request it is 401 `bad_signature`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as P from '@blindrelay/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RelayApi } from '../../packages/client/src/api.js';
import { BlindrelayClient } from '../../packages/client/src/client.js';
import { InsecureTransportError } from '../../packages/client/src/index.js';
import { fileSource } from '../../packages/client/src/node.js';
import { type Device, deviceApi, environment, linkDevice, newUserAt, p } from '../../packages/client/test/devices.js';
import { startRelay, type TestRelay } from '../../packages/client/test/relay-fixture.js';

const BIN = fileURLToPath(new URL('../../packages/cli/bin/blindrelay.mjs', import.meta.url));
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

/** An address of this machine that is not loopback (the "other machine" a user might type). */
function externalAddress(): { host: string; family: 'IPv4' | 'IPv6' } {
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const v4 = all.find((a) => a.family === 'IPv4' && !a.internal);
  if (v4) return { host: v4.address, family: 'IPv4' };
  const v6 = all.find((a) => a.family === 'IPv6' && !a.internal && !a.address.startsWith('fe80'));
  if (v6) return { host: v6.address, family: 'IPv6' };
  throw new Error('this machine has no non-loopback address to listen on (the M3 transport test needs one)');
}
const urlOf = (host: string, family: string, port: number) => `http://${family === 'IPv6' ? `[${host}]` : host}:${port}`;

/** `blindrelay ARGS` as a user runs it, with a clean BLINDRELAY_* environment plus `env`. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, BLINDRELAY_HOME: '', BLINDRELAY_PROFILE: '', BLINDRELAY_PASSPHRASE: '', BLINDRELAY_INSECURE_HTTP: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-m3-transport-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('M3: plain http:// to another machine', () => {
  const external = externalAddress();
  let listener: Server;
  let hits = 0;
  let url = '';
  beforeAll(async () => {
    // Whatever arrives here would have crossed the network in clear text.
    listener = createServer((_req, res) => {
      hits++;
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => listener.listen(0, external.host, resolve));
    url = urlOf(external.host, external.family, (listener.address() as AddressInfo).port);
  });
  afterAll(async () => {
    await new Promise((r) => listener?.close(r));
  });

  it('the SDK refuses it with a typed error that says what to do, and sends nothing', async () => {
    const before = hits;
    const e = environment();
    const created = BlindrelayClient.createAccount(e.env, { servers: url, user: 'alice' });
    await expect(created).rejects.toBeInstanceOf(InsecureTransportError);
    await expect(created).rejects.toMatchObject({
      code: 'ERR_INSECURE_TRANSPORT',
      message: expect.stringMatching(/https:\/\/.*--insecure-http.*allowInsecureHttp/),
    });
    await expect(e.storage.exists()).resolves.toBe(false);
    // Hidden in a failover list, or for linking a device: the same.
    await expect(BlindrelayClient.createAccount(environment().env, { servers: `https://127.0.0.1:1,${url}`, user: 'alice' })).rejects.toBeInstanceOf(
      InsecureTransportError,
    );
    await expect(BlindrelayClient.link(environment().env, { servers: url, user: 'alice', onCode: () => {} })).rejects.toBeInstanceOf(InsecureTransportError);
    expect(() => new RelayApi({ servers: [url] })).toThrow(InsecureTransportError);
    expect(hits).toBe(before);
    // This machine is fine without the opt-in (nothing listens there: the call fails later, reachably).
    for (const local of ['http://127.0.0.1:9', 'http://127.8.9.10:9', 'http://[::1]:9', 'http://localhost:9', 'http://[::ffff:127.0.0.1]:9']) {
      expect(() => new RelayApi({ servers: [local] }), local).not.toThrow();
    }
  });

  it('with allowInsecureHttp the SDK does send, and warns', async () => {
    const before = hits;
    const warnings: string[] = [];
    const e = environment();
    await expect(
      BlindrelayClient.createAccount({ ...e.env, allowInsecureHttp: true, onWarning: (m) => warnings.push(m) }, { servers: url, user: 'alice' }),
    ).rejects.toMatchObject({ code: 'ERR_UNREACHABLE' });
    expect(hits).toBeGreaterThan(before);
    expect(warnings.join('\n')).toMatch(/plain http:\/\/ to another machine/);
  });

  it('a profile that stores such a URL only opens with the opt-in', async () => {
    // A real relay on the non-loopback address; the account was made with the opt-in.
    const relay = await startRelay({ host: external.host, port: 0, dataDir: join(dir, 'external-relay'), logLevel: 'silent', processMetrics: false });
    try {
      const e = environment();
      const opted = { ...e.env, allowInsecureHttp: true, onWarning: () => {} };
      const alice = await BlindrelayClient.createAccount(opted, { servers: relay.url, user: 'alice' });
      alice.close();
      await expect(BlindrelayClient.open(e.env)).rejects.toBeInstanceOf(InsecureTransportError);
      const again = await BlindrelayClient.open(opted);
      expect((await again.devices()).devices).toHaveLength(1);
      again.close();
    } finally {
      await relay.close();
    }
  });

  it('the CLI refuses it (exit 1, one line, JSON code) unless --insecure-http or BLINDRELAY_INSECURE_HTTP=1, which warn on stderr', async () => {
    const before = hits;
    const home = join(dir, 'cli-home');
    const human = await cli(['--home', home, 'account', 'create', '--server', url, '--user', 'alice']);
    expect(human.code).toBe(1);
    expect(human.stderr.trim().split('\n')).toHaveLength(1);
    expect(human.stderr).toMatch(/^blindrelay: refusing plain http:\/\/.*--insecure-http/);
    const json = await cli(['--home', home, 'account', 'create', '--server', url, '--user', 'alice', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'ERR_INSECURE_TRANSPORT' } });
    expect(hits).toBe(before);

    const flagged = await cli(['--home', home, '--insecure-http', 'account', 'create', '--server', url, '--user', 'alice']);
    expect(flagged.code).toBe(1); // the listener answers 503: unreachable, but it was asked
    expect(flagged.stderr).toMatch(/warning: .*plain http:\/\/ to another machine/);
    expect(hits).toBeGreaterThan(before);
    const seen = hits;
    const viaEnv = await cli(['--home', home, 'account', 'create', '--server', url, '--user', 'alice'], { BLINDRELAY_INSECURE_HTTP: '1' });
    expect(viaEnv.stderr).toMatch(/warning: .*plain http:\/\//);
    expect(hits).toBeGreaterThan(seen);
  });
});

describe('M3: what a stolen bearer token can still do to a real relay', () => {
  let relay: TestRelay;
  let alice: Device;
  let alice2: Device;
  let bob: Device;
  let counter = 0;
  const name = (n: string) => `${n}-${process.pid}-${++counter}`;
  beforeAll(async () => {
    relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent', processMetrics: false });
    alice = await newUserAt(name('alice'), relay.url);
    alice2 = await linkDevice(alice);
    bob = await newUserAt(name('bob'), relay.url);
  });
  afterAll(async () => {
    await relay?.close();
  });

  /** The token an observer read off the wire: one the relay issued to alice's first device. */
  const stolenToken = async () => (await (await deviceApi(alice, relay.url)).session()).token;
  const call = (token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${relay.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const queued = async (token: string) => ((await (await call(token, 'GET', '/v1/messages')).json()) as { messages: { id: string }[] }).messages;

  it('cannot acknowledge (delete) the queue, over HTTP or the WebSocket', async () => {
    await bob.client.send(alice.client.user, 'do not lose me');
    const token = await stolenToken();
    const ids = (await queued(token)).map((m) => m.id);
    expect(ids.length).toBeGreaterThan(0);

    const plain = await call(token, 'POST', '/v1/messages/ack', { ids });
    expect(plain.status).toBe(401);
    expect(await plain.json()).toMatchObject({ code: 'signature_required' });
    // A signature by any other key (the attacker's own device) does not pass either.
    const other = await P.generateDeviceKeys(p);
    const forgedBody = JSON.stringify({ ids });
    const ts = Date.now();
    const nonce = p.randomBytes(16);
    const sig = await P.signRequest(p, other.signing.seed, {
      user: alice.client.user,
      deviceId: alice.client.deviceId,
      timestamp: ts,
      nonce,
      method: 'POST',
      path: '/v1/messages/ack',
      bodyHash: await P.requestBodyHash(p, P.utf8(forgedBody)),
    });
    const forged = await call(token, 'POST', '/v1/messages/ack', { ids }, { 'blindrelay-signature': `v1;t=${ts};n=${b64(nonce)};s=${b64(sig)}` });
    expect(forged.status).toBe(401);
    expect(await forged.json()).toMatchObject({ code: 'bad_signature' });

    // The WebSocket ack frame: refused the same way, the socket stays up, nothing is deleted.
    const ws = new WebSocket(`${relay.url.replace(/^http/, 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${token}` } });
    const frames: { type: string; code?: string }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send(JSON.stringify({ type: 'ack', ids }));
    await expect.poll(() => frames.find((f) => f.type === 'error')?.code).toBe('signature_required');
    ws.close();

    expect((await queued(token)).map((m) => m.id)).toEqual(ids);
    // The device itself still can: it signs (and so reads the message first).
    const got: string[] = [];
    await alice.client.receive({ onMessage: (m) => void got.push(m.text) });
    expect(got).toEqual(['do not lose me']);
    expect(await queued(token)).toEqual([]);
  });

  it('cannot delete or re-key a file', async () => {
    const path = join(dir, 'secret.txt');
    await writeFile(path, 'the only copy');
    const { file } = await alice.client.putFile(await fileSource(path));
    const token = await stolenToken();
    const del = await call(token, 'DELETE', `/v1/files/${file.id}`);
    expect(del.status).toBe(401);
    expect(await del.json()).toMatchObject({ code: 'signature_required' });
    const info = (await (await call(token, 'GET', `/v1/files/${file.id}`)).json()) as { revision: number; header: string; meta: string; payloadSize: number };
    const rekey = await call(token, 'PUT', `/v1/files/${file.id}/header`, { expectedRevision: info.revision, header: info.header });
    expect(rekey.status).toBe(401);
    const version = await call(token, 'POST', `/v1/files/${file.id}/versions`, {
      expectedRevision: info.revision,
      header: info.header,
      meta: info.meta,
      payloadSize: info.payloadSize,
      readers: [],
    });
    expect(version.status).toBe(401);
    expect((await call(token, 'GET', `/v1/files/${file.id}`)).status).toBe(200);
    expect(((await (await call(token, 'GET', `/v1/files/${file.id}`)).json()) as { revision: number }).revision).toBe(info.revision);
    // The owner's device can.
    await alice.client.removeFile(file.id);
    expect((await call(token, 'GET', `/v1/files/${file.id}`)).status).toBe(404);
  });

  it('cannot revoke a device: that takes a list signed by the master key', async () => {
    const token = await stolenToken();
    const user = alice.client.user;
    const directory = (await (await call(token, 'GET', `/v1/users/${user}`)).json()) as { deviceList: string };
    // The stored list again (not newer), or anything else the token holder can make: refused.
    const replay = await call(token, 'PUT', `/v1/users/${user}/device-list`, { deviceList: directory.deviceList });
    expect(replay.status).toBe(409);
    const garbage = await call(token, 'PUT', `/v1/users/${user}/device-list`, { deviceList: b64(p.randomBytes(300)) });
    expect(garbage.status).toBe(400);
    // No route takes a token to remove a device.
    expect((await call(token, 'DELETE', `/v1/users/${user}/devices/${alice2.client.deviceId}`)).status).toBe(404);
    expect((await alice.client.devices()).devices.map((d) => d.deviceId).sort()).toEqual([alice.client.deviceId, alice2.client.deviceId].sort());
  });
});

describe('M3: a captured signed request', () => {
  let relay: TestRelay;
  beforeAll(async () => {
    relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay-replay'), logLevel: 'silent', processMetrics: false });
  });
  afterAll(async () => {
    await relay?.close();
  });

  it('cannot be replayed, nor its signature moved to another request', async () => {
    const alice = await newUserAt(`alice-r-${process.pid}`, relay.url);
    const bob = await newUserAt(`bob-r-${process.pid}`, relay.url);
    // Capture the SDK's signed ack on the wire.
    const captured: { url: string; headers: Record<string, string>; body: string }[] = [];
    alice.hook.fn = async (u, init, next) => {
      if (new URL(u).pathname === '/v1/messages/ack')
        captured.push({ url: u, headers: { ...(init?.headers as Record<string, string>) }, body: String(init?.body) });
      return next();
    };
    await bob.client.send(alice.client.user, 'one');
    await alice.client.receive({ onMessage: () => {} });
    alice.hook.fn = null;
    expect(captured).toHaveLength(1);
    const ack = captured[0] as (typeof captured)[number];
    expect(ack.headers['blindrelay-signature']).toMatch(/^v1;t=\d+;n=[\w-]{22};s=[\w-]{86}$/);

    // The same bytes again: refused as a replay.
    const replay = await fetch(ack.url, { method: 'POST', headers: ack.headers, body: ack.body });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ code: 'replayed_signature' });

    // Its signature on an ack of another message (queued now): refused, the message stays.
    await bob.client.send(alice.client.user, 'two');
    const api = await deviceApi(alice, relay.url);
    const [pending] = await api.fetchMessages();
    const moved = await fetch(ack.url, { method: 'POST', headers: ack.headers, body: JSON.stringify({ ids: [pending?.id] }) });
    expect(moved.status).toBe(401);
    expect(await moved.json()).toMatchObject({ code: 'bad_signature' });
    // … or on another route (a file deletion).
    const grafted = await fetch(`${relay.url}/v1/files/${b64(p.randomBytes(16))}`, {
      method: 'DELETE',
      headers: { authorization: ack.headers.authorization as string, 'blindrelay-signature': ack.headers['blindrelay-signature'] as string },
    });
    expect(grafted.status).toBe(401);
    expect((await api.fetchMessages()).map((m) => m.id)).toEqual([pending?.id]);
    const got: string[] = [];
    await alice.client.receive({ onMessage: (m) => void got.push(m.text) });
    expect(got).toEqual(['two']);
  });
});
