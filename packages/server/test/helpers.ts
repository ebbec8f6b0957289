/** Test fixtures: a server per test on port 0 with a temp data dir, users made with the protocol library, HTTP and WebSocket clients. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import WebSocket from 'ws';
import { type RunningServer, type ServerOptions, startServer } from '../src/index.js';

export const p = createNodePrimitives();
export const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
export const unb64 = (text: string) => new Uint8Array(Buffer.from(text, 'base64url'));

/** Every rate limit off unless a test turns one on. */
export const NO_RATE_LIMITS: ServerOptions['rateLimits'] = {
  accountsPerIp: false,
  authPerIp: false,
  authPerDevice: false,
  bundlesPerDevice: false,
  deviceListPerIp: false,
  deviceListPerUser: false,
  provisioningCreatePerIp: false,
  provisioningPollPerIp: false,
  provisioningPutPerDevice: false,
  messagesPerDevice: false,
  sealedPerIp: false,
  sealedPerRecipient: false,
  deliveryTokensPerDevice: false,
  websocketPerDevice: false,
  prekeyUploadsPerDevice: false,
  acksPerDevice: false,
  fileWritesPerDevice: false,
  fileChunksPerDevice: false,
  bundlesPerPair: false,
  oneTimePrekeysPerTarget: false,
  directoryPerDevice: false,
  directoryPerPair: false,
  directoryPerIp: false,
  lookupMissesPerDevice: false,
  lookupMissesPerIp: false,
  messagesPerPair: false,
  backupRestorePerIp: false,
  backupRestorePerUser: false,
  backupWritesPerDevice: false,
  recordWritesPerDevice: false,
  recordReadsPerDevice: false,
};

/** The Prometheus text of a test server (its metrics listener; metricsPort 0 by default). */
export async function metricsText(t: { server: RunningServer }): Promise<string> {
  if (!t.server.metricsUrl) throw new Error('this test server has no metrics listener');
  return (await fetch(t.server.metricsUrl)).text();
}

export class Clock {
  offset = 0;
  readonly now = () => Date.now() + this.offset;
  advance(ms: number) {
    this.offset += ms;
  }
}

export interface TestServer {
  readonly server: RunningServer;
  readonly url: string;
  readonly api: Api;
  readonly dataDir: string;
  readonly clock: Clock;
  close(): Promise<void>;
}

export async function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'blindrelay-server-test-'));
  const clock = new Clock();
  const server = await startServer({
    port: 0,
    dataDir: join(dir, 'data'),
    logLevel: 'silent',
    now: clock.now,
    processMetrics: false,
    metricsPort: 0,
    ...options,
    rateLimits: { ...NO_RATE_LIMITS, ...options.rateLimits },
  });
  return {
    server,
    url: server.url,
    api: new Api(server.url),
    dataDir: join(dir, 'data'),
    clock,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Test responses are free-form JSON, asserted on field by field. */
// biome-ignore lint/suspicious/noExplicitAny: see above
export type Json = any;

export interface Response<T = Json> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as is (malformed JSON tests). */
  raw?: string;
  token?: string;
  headers?: Record<string, string>;
  /** Sign the request with this device's key (Blindrelay-Signature, docs/API.md §2a). */
  sign?: { user: TestUser; device?: TestDevice; timestamp?: number };
}

/** A Blindrelay-Signature header value for `method path` with this body (docs/API.md §2a). */
export async function signatureHeader(
  signer: NonNullable<RequestOptions['sign']>,
  method: string,
  path: string,
  body: string | undefined,
  nonce: Uint8Array = p.randomBytes(16),
): Promise<string> {
  const device = signer.device ?? (signer.user.devices[0] as TestDevice);
  const timestamp = signer.timestamp ?? Date.now();
  const bodyHash = await P.requestBodyHash(p, body === undefined ? undefined : P.utf8(body));
  const signature = await P.signRequest(p, device.keys.signing.seed, {
    user: signer.user.user,
    deviceId: device.keys.deviceId,
    timestamp,
    nonce,
    method,
    path,
    bodyHash,
  });
  return `v1;t=${timestamp};n=${b64(nonce)};s=${b64(signature)}`;
}

/** A signed WebSocket ack frame (docs/API.md §6): the HTTP ack's signature over `{"ids":[...]}`. */
export async function ackFrame(user: TestUser, ids: string[], device?: TestDevice) {
  const signature = await signatureHeader({ user, ...(device ? { device } : {}) }, 'POST', '/v1/messages/ack', JSON.stringify({ ids }));
  return { type: 'ack', ids, signature };
}

export class Api {
  constructor(readonly url: string) {}

  async req<T = Json>(method: string, path: string, o: RequestOptions = {}): Promise<Response<T>> {
    const headers: Record<string, string> = { ...o.headers };
    let body: string | undefined;
    if (o.raw !== undefined) {
      body = o.raw;
      headers['content-type'] ??= 'application/json';
    } else if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['content-type'] ??= 'application/json';
    }
    if (o.token) headers.authorization = `Bearer ${o.token}`;
    if (o.sign) headers['blindrelay-signature'] = await signatureHeader(o.sign, method, path, body);
    const res = await fetch(this.url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as T, text, headers: res.headers };
  }
}

export interface TestDevice {
  /** The user its prekeys are signed for (PROTOCOL.md §3: prekey signatures name user and device). */
  user: string;
  keys: P.DeviceKeys;
  spk: P.SignedPreKeyRecord;
  opks: P.OneTimePreKeyRecord[];
  pqs: P.PqPreKeyRecord[];
  lastResort: P.PqPreKeyRecord;
}

export interface TestUser {
  user: string;
  master: P.SigningKeyPair;
  devices: TestDevice[];
  version: number;
  list: Uint8Array;
}

/** Signed prekeys of `d` for `user`: new signed and ML-KEM prekeys (same ids), one-time X25519 kept. */
async function signPrekeysFor(d: { keys: P.DeviceKeys }, user: string, pqCount: number, pqIds?: number[]) {
  const pqs: P.PqPreKeyRecord[] = [];
  for (let i = 0; i < pqCount; i++) pqs.push(await P.generatePqPreKey(p, user, d.keys, pqIds?.[i] ?? 10 + i, false));
  return { user, spk: await P.generateSignedPreKey(p, user, d.keys, 1), pqs, lastResort: await P.generatePqPreKey(p, user, d.keys, 2, true) };
}

/**
 * A device with prekeys. Its prekeys are signed for `opts.user` (default: a placeholder); adding
 * it to a user's list (`newUser`, `nextList`) signs new ones for that user.
 */
export async function newDevice(opts: { deviceId?: number; opks?: number; pqs?: number; firstOpkId?: number; user?: string } = {}): Promise<TestDevice> {
  const keys = await P.generateDeviceKeys(p, opts.deviceId);
  return {
    keys,
    opks: await P.generateOneTimePreKeys(p, opts.firstOpkId ?? 100, opts.opks ?? 5),
    ...(await signPrekeysFor({ keys }, opts.user ?? 'unbound', opts.pqs ?? 3)),
  };
}

/** Make `d`'s signed prekeys `user`'s (PROTOCOL.md §3), if they are not yet. */
export async function bindDevice(d: TestDevice, user: string): Promise<void> {
  if (d.user === user) return;
  Object.assign(
    d,
    await signPrekeysFor(
      d,
      user,
      d.pqs.length,
      d.pqs.map((k) => k.id),
    ),
  );
}

/** The issue time of lists signed here: "now", as the test relay's clock (Date.now() plus its offset) starts. */
export const listTime = () => Date.now();

/** The device's list entry with its proof of possession as a device of `user` under `master`. */
export const entryOf = (d: TestDevice, user: string = d.user, master?: P.SigningKeyPair): Promise<P.DeviceEntry> | P.DeviceEntry =>
  master ? P.proveDeviceEntry(p, user, master.publicKey, P.deviceEntryOf(d.keys), d.keys.signing.seed) : P.deviceEntryOf(d.keys);

export async function newUser(user: string, opts: Parameters<typeof newDevice>[0] = {}): Promise<TestUser> {
  const master = await P.generateMasterKey(p);
  const device = await newDevice({ ...opts, user });
  const list = await P.signDeviceList(p, user, master, { version: 1, issuedAt: listTime() }, [await entryOf(device, user, master)]);
  return { user, master, devices: [device], version: 1, list };
}

/** Sign the next list version with these devices (each proving its keys) and make it the user's current list locally. */
export async function nextList(u: TestUser, devices: TestDevice[], version = u.version + 1): Promise<Uint8Array> {
  for (const d of devices) await bindDevice(d, u.user);
  const entries = await Promise.all(devices.map((d) => entryOf(d, u.user, u.master)));
  const list = await P.signDeviceList(p, u.user, u.master, { version, issuedAt: listTime() }, entries);
  u.devices = devices;
  u.version = version;
  u.list = list;
  return list;
}

export function prekeyJson(d: TestDevice, which: { spk?: boolean; opks?: boolean; pqs?: boolean; lastResort?: boolean } = {}) {
  const w = { spk: true, opks: true, pqs: true, lastResort: true, ...which };
  return {
    ...(w.spk ? { signedPreKey: { id: d.spk.id, publicKey: b64(d.spk.publicKey), signature: b64(d.spk.signature) } } : {}),
    ...(w.opks ? { oneTimePreKeys: d.opks.map((k) => ({ id: k.id, publicKey: b64(k.publicKey) })) } : {}),
    ...(w.pqs ? { pqPreKeys: d.pqs.map((k) => ({ id: k.id, publicKey: b64(k.publicKey), signature: b64(k.signature) })) } : {}),
    ...(w.lastResort ? { lastResortPqPreKey: { id: d.lastResort.id, publicKey: b64(d.lastResort.publicKey), signature: b64(d.lastResort.signature) } } : {}),
  };
}

export function registrationBody(u: TestUser) {
  return { user: u.user, masterKey: b64(u.master.publicKey), deviceList: b64(u.list), prekeys: prekeyJson(u.devices[0] as TestDevice) };
}

export async function register(api: Api, u: TestUser): Promise<void> {
  const r = await api.req('POST', '/v1/accounts', { body: registrationBody(u) });
  if (r.status !== 201) throw new Error(`register ${u.user}: ${r.status} ${r.text}`);
}

export async function login(api: Api, u: TestUser, device: TestDevice = u.devices[0] as TestDevice): Promise<string> {
  const deviceId = device.keys.deviceId;
  const c = await api.req('POST', '/v1/auth/challenge', { body: { user: u.user, deviceId } });
  if (c.status !== 200) throw new Error(`challenge: ${c.status} ${c.text}`);
  const signature = await P.signAuthChallenge(p, device.keys.signing.seed, unb64(c.body.challenge), u.user, deviceId);
  const t = await api.req('POST', '/v1/auth/token', { body: { user: u.user, deviceId, challenge: c.body.challenge, signature: b64(signature) } });
  if (t.status !== 200) throw new Error(`token: ${t.status} ${t.text}`);
  return t.body.token;
}

/** A registered, logged-in user with one device. */
export async function account(api: Api, name: string, opts: Parameters<typeof newDevice>[0] = {}) {
  const u = await newUser(name, opts);
  await register(api, u);
  return { u, d: u.devices[0] as TestDevice, token: await login(api, u) };
}

export interface Frame {
  type: string;
  [k: string]: Json;
}

export class WsClient {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()));
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** The next frame matching `pred` (consumed), or throws after `ms`. */
  async next(pred: (f: Frame) => boolean = () => true, ms = 3000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0] as Frame;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${ms} ms; have ${JSON.stringify(this.frames.map((f) => f.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(frame: unknown) {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  close() {
    this.ws.close();
  }
}

export function wsUrl(url: string): string {
  return `${url.replace(/^http/, 'ws')}/v1/ws`;
}

/** Opens a WebSocket; resolves with the client, or rejects with the HTTP status of a refused upgrade. */
/** `path`: another WebSocket endpoint than /v1/ws (e.g. /v1/sealed/ws). */
export function openWs(url: string, auth: { token?: string; subprotocols?: string[]; headers?: Record<string, string>; path?: string }): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...auth.headers };
    if (auth.token) headers.authorization = `Bearer ${auth.token}`;
    const target = auth.path ? `${url.replace(/^http/, 'ws')}${auth.path}` : wsUrl(url);
    const ws = new WebSocket(target, auth.subprotocols ?? [], { headers });
    const client = new WsClient(ws);
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

export async function sendMessage(api: Api, token: string, to: string, entries: { deviceId: number; body: Uint8Array }[]) {
  return api.req('POST', '/v1/messages', { token, body: { to, messages: entries.map((e) => ({ deviceId: e.deviceId, body: b64(e.body) })) } });
}
