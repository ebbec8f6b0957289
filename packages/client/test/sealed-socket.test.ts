/**
 * Batched sealed sends over their own unauthenticated WebSocket (sealed-channel.ts, docs/API.md
 * §11a) against a real relay: while listening, sends to a user whose delivery tokens we hold go
 * as `sealed-send` frames on a separate socket (no credentials, no sender name in the frames) and
 * arrive with the verified sender; a relay without the endpoint (404 on the upgrade) means HTTP,
 * silently, as does a socket that cannot open; a socket lost before the answer fails the send as
 * unreachable; sync copies stay on the authenticated frame; a revoked token falls back to the
 * authenticated path with the same ratchet messages.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlindrelayClient } from '../src/client.js';
import { nodeSealedSocketFactory } from '../src/node.js';
import type { ReceivedMessage } from '../src/profile.js';
import type { SealedSocketFactory } from '../src/socket.js';
import { type Device, environment, linkDevice } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let server: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-sealed-ws-'));
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;

/** The real sealed socket, recording what it is asked to open and every frame sent on it; `rewrite` changes where it goes. */
function recording(rewrite?: (url: string) => string) {
  const rec = { urls: [] as string[], frames: [] as string[] };
  const factory: SealedSocketFactory = (url, h) => {
    rec.urls.push(url);
    const s = nodeSealedSocketFactory(rewrite ? rewrite(url) : url, h);
    return {
      send: (text) => {
        rec.frames.push(text);
        s.send(text);
      },
      close: (code, reason) => s.close(code, reason),
    };
  };
  return { rec, factory };
}

async function user(name: string, sealedSocket: SealedSocketFactory): Promise<Device> {
  const e = environment();
  const env = { ...e.env, sealedSocket };
  const client = await BlindrelayClient.createAccount(env, { servers: server.url, user: name, deviceName: 'first' });
  return { client, ...e, env };
}

/** HTTP sends (authenticated or sealed POSTs) the device makes. */
function watchPosts(d: Device) {
  const seen: string[] = [];
  d.hook.fn = async (url, init, next) => {
    const path = new URL(url).pathname;
    if (init?.method === 'POST' && (path === '/v1/messages' || path === '/v1/sealed/messages')) seen.push(path);
    return next();
  };
  return seen;
}

async function inbox(d: Device) {
  const messages: ReceivedMessage[] = [];
  await d.client.receive({ onMessage: (m) => void messages.push(m) });
  return messages;
}

/** First contact and a reply, so that `a` holds `b`'s delivery token; then `a` listens (sends are batched). */
async function pair(a: Device, b: Device, controller: AbortController) {
  await a.client.send(b.client.user, 'first');
  await inbox(b);
  await b.client.send(a.client.user, 'token inside');
  expect((await inbox(a)).map((m) => m.text)).toEqual(['token inside']);
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  const done = a.client.listen({ signal: controller.signal, onMessage: () => undefined, onStatus: (s) => s.state === 'open' && open() });
  await opened;
  return { done };
}

const itemsIn = (frames: string[]) => frames.map((f) => JSON.parse(f) as { type: string; items: unknown[] });

describe('sealed sends over the sealed-send WebSocket', () => {
  it('batches concurrent sealed sends on one unauthenticated socket, with no sender name in the frames; they arrive with the verified sender', async () => {
    const a = recording();
    const alice = await user(unique('alice'), a.factory);
    const bob = await user(unique('bob'), recording().factory);
    const controller = new AbortController();
    const listening = await pair(alice, bob, controller);
    const posts = watchPosts(alice);
    const texts = ['s1', 's2', 's3', 's4', 's5'];
    const results = await Promise.all(texts.map((t) => alice.client.send(bob.client.user, t)));
    expect(results.every((r) => r.devices === 1)).toBe(true);
    expect(posts).toEqual([]); // nothing over HTTP
    expect(a.rec.urls).toEqual([`${server.url.replace(/^http/, 'ws')}/v1/sealed/ws`]); // one connection for all
    const frames = itemsIn(a.rec.frames);
    expect(frames.every((f) => f.type === 'sealed-send')).toBe(true);
    expect(frames.reduce((n, f) => n + f.items.length, 0)).toBe(5);
    for (const f of a.rec.frames) expect(f).not.toContain(alice.client.user);
    const got = await inbox(bob);
    expect(got.map((m) => [m.from, m.fromDevice, m.text])).toEqual(texts.map((t) => [alice.client.user, alice.client.deviceId, t]));
    controller.abort();
    await listening.done;
  });

  it('falls back to HTTP, silently, when the relay has no sealed-send socket (404 on the upgrade)', async () => {
    const a = recording((url) => url.replace('/v1/sealed/ws', '/v1/sealed/ws-not-here'));
    const alice = await user(unique('alice'), a.factory);
    const bob = await user(unique('bob'), recording().factory);
    const controller = new AbortController();
    const listening = await pair(alice, bob, controller);
    const posts = watchPosts(alice);
    await Promise.all(['h1', 'h2', 'h3'].map((t) => alice.client.send(bob.client.user, t)));
    expect(posts).toEqual(['/v1/sealed/messages', '/v1/sealed/messages', '/v1/sealed/messages']);
    expect(a.rec.frames).toEqual([]);
    // Refused once: not asked again for a while (RETRY_MS).
    await alice.client.send(bob.client.user, 'h4');
    expect(a.rec.urls).toHaveLength(1);
    expect((await inbox(bob)).map((m) => [m.from, m.text]).sort()).toEqual(['h1', 'h2', 'h3', 'h4'].map((t) => [alice.client.user, t]));
    controller.abort();
    await listening.done;
  });

  it('falls back to HTTP when the socket cannot be opened at all (nothing listening there)', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r())); // the port is now closed: connection refused
    const a = recording(() => `ws://127.0.0.1:${port}/v1/sealed/ws`);
    const alice = await user(unique('alice'), a.factory);
    const bob = await user(unique('bob'), recording().factory);
    const controller = new AbortController();
    const listening = await pair(alice, bob, controller);
    const posts = watchPosts(alice);
    await Promise.all(['f1', 'f2'].map((t) => alice.client.send(bob.client.user, t)));
    expect(posts).toEqual(['/v1/sealed/messages', '/v1/sealed/messages']);
    expect((await inbox(bob)).map((m) => m.text).sort()).toEqual(['f1', 'f2']);
    controller.abort();
    await listening.done;
  });

  it('a socket that closes before the answer fails the send as unreachable (its fate unknown), and the next send opens a new one', async () => {
    const urls: string[] = [];
    let drop = true;
    const factory: SealedSocketFactory = (url, h) => {
      urls.push(url);
      // Once lost, nothing more reaches the SDK: a close handshake alone would still let the
      // relay's answer in before the close (RFC 6455 §7.1.2), and the send would succeed.
      let lost = false;
      const s = nodeSealedSocketFactory(url, {
        open: (protocol) => h.open(protocol),
        message: (text) => (lost ? undefined : h.message(text)),
        close: (code, reason) => (lost ? undefined : h.close(code, reason)),
        error: (e) => (lost ? undefined : h.error(e)),
      });
      return {
        send: (text) => {
          s.send(text);
          // The connection is lost right after the frame left (the relay may or may not store it).
          if (drop) {
            lost = true;
            s.close(1000, 'gone');
            h.close(1006, 'connection lost');
          }
        },
        close: (code, reason) => s.close(code, reason),
      };
    };
    const alice = await user(unique('alice'), factory);
    const bob = await user(unique('bob'), recording().factory);
    const controller = new AbortController();
    const listening = await pair(alice, bob, controller);
    await expect(alice.client.send(bob.client.user, 'lost?')).rejects.toMatchObject({ code: 'ERR_UNREACHABLE' });
    drop = false;
    await alice.client.send(bob.client.user, 'after');
    expect(urls).toHaveLength(2);
    // The dropped frame may or may not have been stored (that is what unreachable means here).
    expect((await inbox(bob)).map((m) => m.text)).toContain('after');
    controller.abort();
    await listening.done;
  });

  it('with another device of ours: the recipient gets the sealed copy over the sealed socket, our device its sync copy on the authenticated frame', async () => {
    const a = recording();
    const alice = await user(unique('alice'), a.factory);
    const alice2 = await linkDevice(alice);
    const bob = await user(unique('bob'), recording().factory);
    const controller = new AbortController();
    const listening = await pair(alice, bob, controller);
    await inbox(alice2);
    const posts = watchPosts(alice);
    const r = await alice.client.send(bob.client.user, 'with sync');
    expect(r).toMatchObject({ devices: 1, ownDevices: 1 });
    expect(r.syncError).toBeUndefined();
    expect(posts).toEqual([]);
    const frames = itemsIn(a.rec.frames);
    expect(frames.flatMap((f) => f.items.map((i) => (i as { to: string }).to))).toEqual([bob.client.user]);
    expect((await inbox(bob)).map((m) => [m.from, m.text])).toEqual([[alice.client.user, 'with sync']]);
    const synced = await inbox(alice2);
    expect(synced.map((m) => m.text)).toEqual(['with sync']);
    controller.abort();
    await listening.done;
  });

  it('a revoked token: the sealed item is refused and the same message goes on the authenticated path', async () => {
    const a = recording();
    const alice = await user(unique('alice'), a.factory);
    const bob = await user(unique('bob'), recording().factory);
    const controller = new AbortController();
    const listening = await pair(alice, bob, controller);
    await bob.client.rotateDeliveryToken({ revoke: true });
    const posts = watchPosts(alice);
    await alice.client.send(bob.client.user, 'after revocation');
    expect(itemsIn(a.rec.frames).map((f) => f.items.length)).toEqual([1]);
    expect(posts).toEqual(['/v1/messages']);
    expect((await inbox(bob)).map((m) => [m.from, m.text])).toEqual([[alice.client.user, 'after revocation']]);
    // The tokens were forgotten: the next send is authenticated (in the batched frame), nothing sealed.
    await alice.client.send(bob.client.user, 'next');
    expect(a.rec.frames).toHaveLength(1);
    expect((await inbox(bob)).map((m) => m.text)).toEqual(['next']);
    controller.abort();
    await listening.done;
  });
});
