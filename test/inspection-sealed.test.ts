/**
 * The adversarial inspection test, sealed sender part (docs/API.md §11, docs/THREAT-MODEL.md
 * "Sealed sender"), and the NDSS 2021 linkage attack (Martiny et al., "Improving Signal's Sealed
 * Sender") run against the relay's view.
 *
 * A real relay process runs at debug log level behind a TCP proxy that records every byte. A
 * sender and a recipient with two devices (canary user names) make first contact on the
 * authenticated path, then the sender sends sealed. Every row the sealed phase adds or changes
 * in the relay's database (read through SQLite, so the WAL's content counts), the debug logs and
 * every sealed request on the wire are searched for the sender's name, device id, keys and
 * certificate; fan-out, 409 coverage and replay refusal are exercised on the same relay with the
 * storage checked unchanged after each refusal.
 *
 * The same on the sealed-send WebSocket (docs/API.md §11a): a listening sender's batched sealed
 * sends go over their own unauthenticated connection; its upgrade request and every frame on it
 * (unmasked from the recording), the rows and the logs are searched the same way.
 *
 * Then two conversations run through the relay, once on the authenticated path and once sealed,
 * and an adversary holding the relay's full view tries to pair senders with recipients: from the
 * stored rows (succeeds for authenticated sends, fails for sealed ones), and by the NDSS timing
 * attack (a recipient's acknowledgement followed at once by a message to its correspondent: the
 * automatic delivery receipt). The SDK sends no automatic receipts; a positive control with a
 * client that does shows the attack working, so its failure on the SDK is meaningful.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { BlindrelayClient, type ClientEnvironment, MemoryStorage } from '@blindrelay/client';
import { nodeSealedSocketFactory, nodeSocketFactory } from '@blindrelay/client/node';
import * as P from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Profile } from '../packages/client/src/profile.js';

const BIN = new URL('../packages/cli/bin/blindrelay.mjs', import.meta.url).pathname;
const p = createNodePrimitives();

let dir: string;
let relay: ChildProcess;
let logs = '';
let proxy: Server;
let proxyUrl: string;
/** Client-to-relay bytes, per connection. */
const upstreamBytes: Buffer[][] = [];

function startProxy(target: URL): Promise<{ server: Server; url: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    const mine: Buffer[] = [];
    upstreamBytes.push(mine);
    sockets.add(client).add(upstream);
    client.on('data', (b: Buffer) => {
      mine.push(Buffer.from(b));
      upstream.write(b);
    });
    upstream.on('data', (b: Buffer) => client.write(b));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` })),
  );
}

function startRelay(dataDir: string): Promise<URL> {
  relay = spawn(process.execPath, [BIN, 'server', '--port', '0', '--data', dataDir, '--log-level', 'debug'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      logs += b.toString('utf8');
      const m = /listening on (http:\/\/\S+)/.exec(logs);
      if (m) resolve(new URL(m[1] as string));
    };
    relay.stdout?.on('data', onData);
    relay.stderr?.on('data', (b: Buffer) => {
      logs += b.toString('utf8');
    });
    relay.on('exit', (code) => reject(new Error(`relay exited early with ${code}: ${logs}`)));
  });
}

/** What the relay receives, as seen at the client's edge: method, path, the authenticated device (if any), time. */
interface Seen {
  readonly t: number;
  readonly method: string;
  readonly path: string;
  readonly device: string | null;
  readonly body: string;
}

interface Device {
  client: BlindrelayClient;
  storage: MemoryStorage;
  seen: Seen[];
}

function environment(storage: MemoryStorage, seen: Seen[], name: { value: string }, extra: Partial<ClientEnvironment> = {}): ClientEnvironment {
  const f: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const h = new Headers(init?.headers);
    seen.push({
      t: Date.now(),
      method: init?.method ?? 'GET',
      path: url.pathname,
      device: h.get('authorization') ? name.value : null,
      body: String(init?.body ?? ''),
    });
    return fetch(input, init);
  };
  return { primitives: p, storage, fetch: f, ...extra };
}

async function make(user: string, extra: Partial<ClientEnvironment> = {}): Promise<Device> {
  const storage = new MemoryStorage();
  const seen: Seen[] = [];
  const client = await BlindrelayClient.createAccount(environment(storage, seen, { value: user }, extra), { servers: proxyUrl, user });
  return { client, storage, seen };
}

async function link(existing: Device): Promise<Device> {
  const storage = new MemoryStorage();
  const seen: Seen[] = [];
  let approval: Promise<unknown> = Promise.resolve();
  const client = await BlindrelayClient.link(environment(storage, seen, { value: `${existing.client.user}#2` }), {
    servers: proxyUrl,
    user: existing.client.user,
    onCode: (code, sas) => {
      approval = existing.client.approve(code, { sas });
    },
  });
  await approval;
  return { client, storage, seen };
}

const receive = async (d: Device) => {
  const got: { from: string; text: string }[] = [];
  const failures: unknown[] = [];
  await d.client.receive({ onMessage: (m) => void got.push({ from: m.from, text: m.text }), onFailure: (f) => void failures.push(f) });
  expect(failures).toEqual([]);
  return got;
};

/** Every form in which `secret` could appear: raw, hex, base64 and base64url at each alignment. */
function forms(secret: Uint8Array): Buffer[] {
  const raw = Buffer.from(secret);
  const out = [raw, Buffer.from(raw.toString('hex')), Buffer.from(raw.toString('hex').toUpperCase())];
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), raw]);
    for (const enc of ['base64', 'base64url'] as const) {
      const s = padded.toString(enc);
      const start = Math.ceil((shift * 4) / 3) + 1;
      out.push(Buffer.from(s.slice(start, s.length - 3)));
    }
  }
  return out.filter((f) => f.length >= 16);
}
const found = (hay: Buffer, secrets: Map<string, Uint8Array>) => [...secrets].filter(([, s]) => forms(s).some((f) => hay.includes(f))).map(([n]) => n);
/** A device id as a number token (not part of a longer number). */
const hasNumber = (text: string, n: number) => new RegExp(`(?<![0-9])${n}(?![0-9])`).test(text);

type Row = Record<string, unknown>;
/** Every row of every table, as canonical strings (bytes as hex), keyed by table. */
function dump(dbPath: string): Map<string, Set<string>> {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map(
      (t) => t.name,
    );
    const out = new Map<string, Set<string>>();
    for (const t of tables) {
      const rows = db.prepare(`SELECT * FROM "${t}"`).all() as Row[];
      out.set(
        t,
        new Set(
          rows.map((r) =>
            JSON.stringify(r, (_k, v) => (v instanceof Uint8Array ? `hex:${Buffer.from(v).toString('hex')}` : typeof v === 'bigint' ? Number(v) : v)),
          ),
        ),
      );
    }
    return out;
  } finally {
    db.close();
  }
}
function added(before: Map<string, Set<string>>, after: Map<string, Set<string>>): { table: string; row: string }[] {
  const out: { table: string; row: string }[] = [];
  for (const [table, rows] of after) for (const r of rows) if (!before.get(table)?.has(r)) out.push({ table, row: r });
  return out;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-inspect-sealed-'));
  const target = await startRelay(join(dir, 'data'));
  ({ server: proxy, url: proxyUrl } = await startProxy(target));
}, 60_000);

afterAll(async () => {
  proxy?.close();
  if (relay && relay.exitCode === null) relay.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('sealed sender: the relay learns no sender', () => {
  const senderName = `sndrcanary${randomBytes(6).toString('hex')}`;
  const recipientName = `rcptcanary${randomBytes(6).toString('hex')}`;
  let sender: Device;
  let rcpt: Device;
  let rcpt2: Device;
  let before: Map<string, Set<string>>;
  /** Right after the sealed sends, before the recipients fetched and acknowledged them. */
  let afterSends: Map<string, Set<string>>;
  let logMark = 0;
  const texts: string[] = [];

  it('first contact on the authenticated path hands out tokens; then every send is sealed and both recipient devices get it', async () => {
    sender = await make(senderName);
    rcpt = await make(recipientName);
    rcpt2 = await link(rcpt);
    await sender.client.send(recipientName, 'first contact');
    expect((await receive(rcpt)).map((m) => m.from)).toEqual([senderName]);
    expect((await receive(rcpt2)).map((m) => m.from)).toEqual([senderName]);
    // Each recipient device writes once (its token inside); the sender learns both tokens.
    await rcpt.client.send(senderName, 'hi from 1');
    await rcpt2.client.send(senderName, 'hi from 2');
    expect((await receive(sender)).map((m) => m.text).sort()).toEqual(['hi from 1', 'hi from 2']);
    await receive(rcpt);
    await receive(rcpt2);

    // The relay's state before the sealed phase.
    before = dump(join(dir, 'data', 'relay.db'));
    logMark = logs.length;
    const sendsBefore = sender.seen.length;
    for (let i = 0; i < 3; i++) {
      const text = `CANARY-sealed-${i}-${randomBytes(8).toString('hex')}`;
      texts.push(text);
      await sender.client.send(recipientName, text);
    }
    afterSends = dump(join(dir, 'data', 'relay.db'));
    const posts = sender.seen.slice(sendsBefore).filter((s) => s.method === 'POST' && s.path.includes('messages'));
    expect(posts.map((s) => s.path)).toEqual(['/v1/sealed/messages', '/v1/sealed/messages', '/v1/sealed/messages']);
    expect(posts.every((s) => s.device === null)).toBe(true);
    // Fan-out: both devices receive all three, with the inner (verified) sender.
    for (const d of [rcpt, rcpt2]) expect(await receive(d)).toEqual(texts.map((text) => ({ from: senderName, text })));
  }, 120_000);

  it('409 coverage and replay refusal on the same relay: nothing stored', async () => {
    const last = sender.seen.filter((s) => s.path === '/v1/sealed/messages').at(-1) as Seen;
    const body = JSON.parse(last.body) as { to: string; messages: { deviceId: number }[] };
    expect(body.messages).toHaveLength(2);
    const post = (b: unknown) =>
      fetch(`${proxyUrl}/v1/sealed/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
    const state = dump(join(dir, 'data', 'relay.db'));
    const partial = await post({ ...body, messages: body.messages.slice(0, 1) });
    expect(partial.status).toBe(409);
    expect(await partial.json()).toMatchObject({ code: 'mismatched_devices', missing: [body.messages[1]?.deviceId], stale: [] });
    const replay = await post(body);
    expect(replay.status).toBe(409);
    expect((await replay.json()).code).toBe('replayed');
    expect(added(state, dump(join(dir, 'data', 'relay.db')))).toEqual([]);
    expect(await receive(rcpt)).toEqual([]);
  }, 60_000);

  it("rows the sealed phase wrote, the debug logs and the sealed requests on the wire hold nothing of the sender's", async () => {
    const account = await (await Profile.open(sender.storage, p)).read('account');
    const senderSecrets = new Map<string, Uint8Array>([
      ['sender name', P.utf8(senderName)],
      ['sender signing key', account.signingKey],
      ['sender identity key', account.identityPublic],
      ['sender master key', account.masterKey],
      ['sender certificate', account.certificate.subarray(0, 48)],
      ['sender identity private key', account.identityPrivate],
    ]);
    const deviceId = account.deviceId;
    // Database (through SQLite, WAL included): every row added or changed during the sealed phase.
    const rows = [...added(before, afterSends), ...added(before, dump(join(dir, 'data', 'relay.db')))];
    const queued = added(before, afterSends).filter((r) => r.table === 'messages');
    expect(queued.length).toBe(6); // 3 messages × 2 devices, as stored before the recipients acknowledged them
    for (const r of rows) {
      const o = JSON.parse(r.row) as Row;
      if (o.user === recipientName || r.table === 'messages' || r.table === 'sealed_digests') {
        expect(r.row.includes(senderName), `${r.table}: ${r.row.slice(0, 120)}`).toBe(false);
        expect(Object.values(o).includes(deviceId), `${r.table} holds the sender's device id`).toBe(false);
        expect(found(Buffer.from(r.row), senderSecrets), r.table).toEqual([]);
      }
    }
    for (const r of queued) expect(JSON.parse(r.row)).toMatchObject({ user: recipientName, from_user: '', from_device: 0 });
    // Logs of the sealed phase (and the whole log: user names are never logged).
    const phase = logs.slice(logMark);
    expect(phase.length).toBeGreaterThan(100);
    expect(logs.includes(senderName)).toBe(false);
    expect(hasNumber(phase.replaceAll(/"(time|responseTime|reqId|pid|hostname)":[^,}]*/g, ''), deviceId)).toBe(false);
    expect(found(Buffer.from(phase), senderSecrets)).toEqual([]);
    // Traffic: every sealed request on the wire (head and body), from the proxy's recording.
    const requests = upstreamBytes
      .map((chunks) => Buffer.concat(chunks).toString('latin1'))
      .flatMap((stream) => stream.split(/(?=(?:GET|POST|PUT|DELETE) \/)/))
      .filter((r) => r.startsWith('POST /v1/sealed/messages'))
      // The sender's sends (the recipient's sealed replies are addressed to the sender, by name).
      .filter((r) => r.includes(`"to":"${recipientName}"`));
    expect(requests.length).toBe(3 + 2); // the SDK's three, the test's two refused ones
    for (const r of requests) {
      expect(/^authorization:/im.test(r), 'a bearer token on a sealed send').toBe(false);
      expect(/^blindrelay-signature:/im.test(r)).toBe(false);
      expect(r.includes(senderName)).toBe(false);
      expect(found(Buffer.from(r, 'latin1'), senderSecrets)).toEqual([]);
      for (const t of texts) expect(r.includes(t)).toBe(false);
    }
  }, 60_000);

  it('the scanner finds what it looks for (positive control)', async () => {
    const account = await (await Profile.open(sender.storage, p)).read('account');
    const s = new Map([['key', account.identityPublic]]);
    for (const enc of ['base64', 'base64url', 'hex'] as const) {
      expect(found(Buffer.from(`{"x":"ab${Buffer.from(account.identityPublic).toString(enc)}cd"}`), s)).toEqual(['key']);
    }
    expect(hasNumber(`{"deviceId":${account.deviceId}}`, account.deviceId)).toBe(true);
    // The first-contact rows (authenticated path) do name the sender: the dump would show it.
    const all = [...(dump(join(dir, 'data', 'relay.db')).get('accounts') ?? [])].join('\n');
    expect(all.includes(senderName)).toBe(true);
  });
});

/** The payloads of the client-to-server WebSocket frames after the upgrade request (RFC 6455 §5.2–5.3: client frames are masked). */
function clientFrames(stream: Buffer): { head: string; payloads: Buffer[] } {
  const end = stream.indexOf('\r\n\r\n');
  const head = stream.subarray(0, end).toString('latin1');
  const payloads: Buffer[] = [];
  let at = end + 4;
  while (at + 2 <= stream.length) {
    const b1 = stream[at + 1] as number;
    let len = b1 & 0x7f;
    let off = at + 2;
    if (len === 126) {
      len = stream.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      len = Number(stream.readBigUInt64BE(off));
      off += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? stream.subarray(off, off + 4) : undefined;
    if (masked) off += 4;
    if (off + len > stream.length) break;
    const payload = Buffer.from(stream.subarray(off, off + len));
    if (key) for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (key[i % 4] as number);
    payloads.push(payload);
    at = off + len;
  }
  return { head, payloads };
}

describe('sealed sender on the sealed-send WebSocket: the relay learns no sender', () => {
  it("a listening sender's batched sealed sends: the socket's upgrade and frames, the rows and the logs hold nothing of the sender's", async () => {
    const senderName = `wssndrcanary${randomBytes(6).toString('hex')}`;
    const recipientName = `wsrcptcanary${randomBytes(6).toString('hex')}`;
    const sender = await make(senderName, { socket: nodeSocketFactory, sealedSocket: nodeSealedSocketFactory });
    const rcpt = await make(recipientName);
    await sender.client.send(recipientName, 'first contact');
    expect((await receive(rcpt)).map((m) => m.from)).toEqual([senderName]);
    await rcpt.client.send(senderName, 'token inside');
    expect((await receive(sender)).map((m) => m.text)).toEqual(['token inside']);

    const controller = new AbortController();
    let open!: () => void;
    const opened = new Promise<void>((r) => {
      open = r;
    });
    const listening = sender.client.listen({ signal: controller.signal, onMessage: () => undefined, onStatus: (st) => st.state === 'open' && open() });
    await opened;
    const before = dump(join(dir, 'data', 'relay.db'));
    const logMark = logs.length;
    const connMark = upstreamBytes.length;
    const sendsBefore = sender.seen.length;
    const texts = [0, 1, 2].map((i) => `CANARY-ws-sealed-${i}-${randomBytes(8).toString('hex')}`);
    await Promise.all(texts.map((t) => sender.client.send(recipientName, t)));
    const afterSends = dump(join(dir, 'data', 'relay.db'));
    // None of them over HTTP.
    expect(sender.seen.slice(sendsBefore).filter((x) => x.method === 'POST' && x.path.includes('messages'))).toEqual([]);
    expect(await receive(rcpt)).toEqual(texts.map((text) => ({ from: senderName, text })));
    controller.abort();
    await listening;

    const account = await (await Profile.open(sender.storage, p)).read('account');
    const secrets = new Map<string, Uint8Array>([
      ['sender name', P.utf8(senderName)],
      ['sender signing key', account.signingKey],
      ['sender identity key', account.identityPublic],
      ['sender master key', account.masterKey],
      ['sender certificate', account.certificate.subarray(0, 48)],
      ['sender identity private key', account.identityPrivate],
    ]);
    // Rows: the queued messages have no sender; nothing the phase wrote names it.
    const queued = added(before, afterSends).filter((r) => r.table === 'messages');
    expect(queued.length).toBe(3);
    for (const r of queued) expect(JSON.parse(r.row)).toMatchObject({ user: recipientName, from_user: '', from_device: 0 });
    for (const r of added(before, afterSends).filter((x) => x.table === 'messages' || x.table === 'sealed_digests')) {
      expect(r.row.includes(senderName)).toBe(false);
      expect(Object.values(JSON.parse(r.row) as Row).includes(account.deviceId)).toBe(false);
      expect(found(Buffer.from(r.row), secrets), r.table).toEqual([]);
    }
    // Logs: never the name; no secret of the sender's in the phase.
    expect(logs.includes(senderName)).toBe(false);
    expect(found(Buffer.from(logs.slice(logMark)), secrets)).toEqual([]);
    // Traffic: one sealed socket, opened without credentials, and its frames.
    const sockets = upstreamBytes
      .slice(connMark)
      .map((chunks) => Buffer.concat(chunks))
      .filter((b) => b.subarray(0, 20).toString('latin1').startsWith('GET /v1/sealed/ws'));
    expect(sockets).toHaveLength(1);
    const { head, payloads } = clientFrames(sockets[0] as Buffer);
    expect(/^authorization:/im.test(head), 'a bearer token on the sealed socket').toBe(false);
    expect(head.includes('blindrelay.token.')).toBe(false);
    expect(/^sec-websocket-protocol: blindrelay\.sealed\.v1\r?$/im.test(head)).toBe(true);
    expect(head.includes(senderName)).toBe(false);
    const frames = payloads.map((b) => b.toString('utf8')).filter((t) => t.startsWith('{'));
    // Positive control of the unmasking: the frames are the JSON sealed sends, to the recipient by name.
    expect(frames.length).toBeGreaterThan(0);
    const items = frames.flatMap((f) => (JSON.parse(f) as { type: string; items: { to: string }[] }).items);
    expect(items.map((i) => i.to)).toEqual([recipientName, recipientName, recipientName]);
    for (const f of frames) {
      expect(f.includes(senderName)).toBe(false);
      expect(hasNumber(f.replaceAll(/"deviceId":\d+/g, ''), account.deviceId)).toBe(false);
      expect(found(Buffer.from(f), secrets)).toEqual([]);
      for (const t of texts) expect(f.includes(t)).toBe(false);
    }
    // The recipient's device ids are the only ones named in the frames.
    const rcptAccount = await (await Profile.open(rcpt.storage, p)).read('account');
    for (const f of frames) for (const m of f.matchAll(/"deviceId":(\d+)/g)) expect(Number(m[1])).toBe(rcptAccount.deviceId);
    sender.client.close();
  }, 120_000);
});

describe('the NDSS 2021 linkage attack against the relay view', () => {
  /** How soon after an acknowledgement a send counts as its answer; human replies here come PAUSE_MS later. */
  const WINDOW_MS = 500;
  const PAUSE_MS = 800;
  const ROUNDS = 2;
  /**
   * Two conversations, alice→bob and carol→dave, each message answered later by a human reply.
   * The adversary sees, in time order: stored messages (recipient; sender only on the
   * authenticated path) and authenticated acknowledgements (who fetched).
   */
  async function conversations(options: { sealed: boolean; autoReceipts: boolean }) {
    const tag = randomBytes(3).toString('hex');
    // directoryMaxAgeMs 0: every send looks the recipient up again, so the lookups are in the view too.
    const env = { directoryMaxAgeMs: 0, ...(options.sealed ? {} : { sealedSends: false }) };
    const [alice, bob, carol, dave] = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((n) => make(`${n}${tag}`, env)));
    const all = [alice, bob, carol, dave] as Device[];
    const pairs: [Device, Device][] = [
      [alice as Device, bob as Device],
      [carol as Device, dave as Device],
    ];
    // Tokens exchanged (first contact both ways), then the observed rounds.
    for (const [a, b] of pairs) {
      await a.client.send(b.client.user, 'hello');
      await receive(b);
      await b.client.send(a.client.user, 'hello back');
      await receive(a);
    }
    const start = Date.now();
    for (const d of all) d.seen.length = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const [a, b] of pairs) await a.client.send(b.client.user, `round ${round}`);
      for (const [a, b] of pairs) {
        const got = await receive(b);
        // A client with automatic delivery receipts answers at once (what the SDK never does).
        if (options.autoReceipts) for (const m of got) await b.client.send(m.from, `receipt for ${m.text}`);
        void a;
      }
      // Human replies, later and in the other order.
      await new Promise((r) => setTimeout(r, PAUSE_MS));
      for (const [a, b] of [...pairs].reverse()) await b.client.send(a.client.user, `reply ${round}`);
      for (const [a] of pairs) await receive(a);
      await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
    // The relay's view: every request it received, in time order, with the authenticated device
    // where there was one (a sealed send has none).
    const view = all
      .flatMap((d) => d.seen)
      .filter((s) => s.t >= start)
      .sort((x, y) => x.t - y.t);
    const truth = new Set(pairs.flatMap(([a, b]) => [`${a.client.user}->${b.client.user}`, `${b.client.user}->${a.client.user}`]));
    return { view, truth, users: all.map((d) => d.client.user) };
  }

  /**
   * Pairs the adversary derives from requests naming both ends: authenticated sends (stored with
   * their sender), and authenticated directory lookups and bundle fetches of another user.
   */
  function pairsFromRows(view: Seen[]): Set<string> {
    const out = new Set<string>();
    for (const s of view) {
      if (!s.device) continue;
      const looked = /^\/v1\/users\/([^/]+)/.exec(s.path)?.[1];
      const to = s.method === 'POST' && s.path === '/v1/messages' ? (JSON.parse(s.body) as { to: string }).to : looked;
      if (to && to !== s.device) out.add(`${s.device}->${to}`);
    }
    return out;
  }

  /**
   * The NDSS attack: a message stored for X within `windowMs` of Y's acknowledgement pairs Y→X
   * (Y's device answering at once: a delivery receipt). Returns the pairs it infers.
   */
  function pairsFromTiming(view: Seen[], windowMs: number): Set<string> {
    const out = new Set<string>();
    const acks = view.filter((s) => s.path === '/v1/messages/ack' && s.device);
    for (const s of view) {
      if (s.method !== 'POST' || (s.path !== '/v1/sealed/messages' && s.path !== '/v1/messages')) continue;
      const to = (JSON.parse(s.body) as { to: string }).to;
      const ack = acks.filter((a) => a.t <= s.t && s.t - a.t <= windowMs && a.device !== to).at(-1);
      if (ack) out.add(`${ack.device}->${to}`);
    }
    return out;
  }

  it('authenticated sends: the stored rows pair every sender with its recipient', async () => {
    const { view, truth } = await conversations({ sealed: false, autoReceipts: false });
    expect(pairsFromRows(view)).toEqual(truth);
  }, 120_000);

  it('sealed sends, no automatic receipts (the SDK): neither the rows nor the timing pair anyone', async () => {
    const { view } = await conversations({ sealed: true, autoReceipts: false });
    const sealed = view.filter((s) => s.path === '/v1/sealed/messages');
    expect(sealed.length).toBe(ROUNDS * 4); // per round: 2 messages + 2 replies
    expect(sealed.every((s) => s.device === null)).toBe(true);
    expect(pairsFromRows(view)).toEqual(new Set());
    // The recipients' lists were looked up at every send, without authentication (a delivery token).
    expect(view.filter((s) => s.path === '/v1/sealed/directory').length).toBeGreaterThanOrEqual(ROUNDS * 4);
    expect(pairsFromTiming(view, WINDOW_MS)).toEqual(new Set());
    // Receiving sent nothing: every POST of a message in the view is one the test asked for.
    expect(view.filter((s) => s.method === 'POST' && s.path.endsWith('/messages')).length).toBe(ROUNDS * 4);
  }, 120_000);

  it('positive control: a client that sends automatic receipts is paired by the timing attack, sealed or not', async () => {
    const { view, truth } = await conversations({ sealed: true, autoReceipts: true });
    expect(pairsFromRows(view)).toEqual(new Set());
    const inferred = pairsFromTiming(view, WINDOW_MS);
    // The receipts go from each recipient back to its correspondent: those pairs are found, and nothing false.
    expect(inferred.size).toBeGreaterThanOrEqual(2);
    for (const pair of inferred) expect(truth.has(pair), pair).toBe(true);
  }, 120_000);
});
