/**
 * Review finding L7, security-2026-12.md: relay-supplied envelope fields were not validated. An
 * envelope whose `fromDevice` is out of range (0, 2^32, a fraction) or whose `from` is not a user
 * name failed as an untrusted device and was PARKED: kept in the bounded parked store (200
 * messages / 4 MiB), where a relay sending enough of them evicts the genuine parked messages (a
 * real message waiting for its sender's new key to be verified). Their `from` also reached the
 * application (and the CLI's terminal) as given.
 *
 * The attack, against a real relay with the SDK: a genuine message is parked first (its sender
 * device is not in the sender's verified list yet); then the relay (a fetch interceptor playing
 * it) answers the next fetches with 250 envelopes whose `from`/`fromDevice`/id/time/body are
 * malformed, mixed with a genuine message.
 *
 * What stops it now (packages/client/src/api.ts `parseEnvelope`): every field is checked as the
 * relay's own schema would (user name, device id in 1 … 2^32−1, 16-byte message id, time, body
 * size); an envelope failing any check is reported as one failure (ERR_RELAY_ENVELOPE, its bad
 * fields blanked), acknowledged when its id is well-formed, and never decrypted or parked. The
 * genuine parked message stays parked; the genuine new message is delivered.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_ENVELOPE_FAULT } from '../../packages/client/src/api.js';
import type { ReceiveFailure } from '../../packages/client/src/receive.js';
import { type Device, newUserAt, p } from '../../packages/client/test/devices.js';
import { startRelay, type TestRelay } from '../../packages/client/test/relay-fixture.js';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

let dir: string;
let relay: TestRelay;
let alice: Device;
let bob: Device;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-l7-'));
  relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent', processMetrics: false });
  alice = await newUserAt(`alice-${process.pid}`, relay.url);
  bob = await newUserAt(`bob-${process.pid}`, relay.url);
});
afterAll(async () => {
  await relay?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const isFetch = (u: string, init: RequestInit | undefined) => (init?.method ?? 'GET') === 'GET' && new URL(u).pathname === '/v1/messages';

describe('L7: malformed envelope fields from the relay', () => {
  it('are dropped as counted failures, never parked; genuine parked and new messages survive', async () => {
    // A genuine message, parked: bob's device as the relay labels it is not in bob's verified list
    // (the relay rewrites fromDevice to another valid id) — the case parking is for.
    await bob.client.send(alice.client.user, 'kept while in doubt');
    alice.hook.fn = async (u, init, next) => {
      const res = await next();
      if (!isFetch(u, init)) return res;
      const body = (await res.json()) as { messages: Record<string, unknown>[] };
      return Response.json({ messages: body.messages.map((m) => ({ ...m, fromDevice: 4242 })) });
    };
    const first: ReceiveFailure[] = [];
    await alice.client.receive({ onMessage: () => {}, onFailure: (f) => void first.push(f) });
    expect(first.map((f) => f.parked)).toEqual([true]);
    const parkedBefore = await alice.client.parked();
    expect(parkedBefore).toHaveLength(1);

    // Now the relay mixes a genuine message with 250 malformed envelopes (more than the parked store holds).
    await bob.client.send(alice.client.user, 'genuine');
    const badFields: Record<string, unknown>[] = [
      { fromDevice: 0 },
      { fromDevice: 2 ** 32 },
      { fromDevice: -1 },
      { fromDevice: 1.5 },
      { fromDevice: '7' },
      { from: 'Bob\u001b[31m' },
      { from: '' },
      { from: 'a'.repeat(65) },
      { from: 42 },
      { id: 'not-an-id' },
      { sentAt: -5 },
      { body: '' },
    ];
    // Served 100 a fetch (the SDK fetches again while pages are full): 99 + the genuine one, then 100, then 51.
    let injected = 0;
    let template: Record<string, unknown> | undefined;
    alice.hook.fn = async (u, init, next) => {
      const res = await next();
      if (!isFetch(u, init)) return res;
      const body = (await res.json()) as { messages: Record<string, unknown>[] };
      if (injected >= 250) return Response.json(body);
      template ??= body.messages[0] as Record<string, unknown>;
      const count = Math.min(250 - injected, 100 - body.messages.length);
      const junk = Array.from({ length: count }, (_, i) => ({
        ...template,
        id: b64(p.randomBytes(16)),
        ...(badFields[(injected + i) % badFields.length] as object),
      }));
      injected += count;
      return Response.json({ messages: [...junk, ...body.messages] });
    };
    const failures: ReceiveFailure[] = [];
    const got: string[] = [];
    const r = await alice.client.receive({ onMessage: (m) => void got.push(m.text), onFailure: (f) => void failures.push(f) });
    alice.hook.fn = null;

    expect(injected).toBe(250);
    expect(got).toEqual(['genuine']);
    expect(failures).toHaveLength(250);
    expect(r.failed).toBe(250);
    for (const f of failures) {
      expect(f.code).toBe(RELAY_ENVELOPE_FAULT);
      expect(f.parked).toBeUndefined();
      // Nothing the relay made up reaches the application as a sender.
      expect(f.from === '' || f.from === bob.client.user).toBe(true);
      expect(f.fromDevice === 0 || f.fromDevice === bob.client.deviceId).toBe(true);
    }
    // The parked store holds exactly what it held: the genuine parked message.
    expect(await alice.client.parked()).toEqual(parkedBefore);
  });

  it('over the WebSocket too', async () => {
    await bob.client.send(alice.client.user, 'pushed');
    const failures: ReceiveFailure[] = [];
    const got: string[] = [];
    const controller = new AbortController();
    // The relay's push frames, rewritten: three malformed copies before each genuine message.
    const socket = alice.env.socket;
    if (!socket) throw new Error('no socket factory');
    const env = {
      ...alice.env,
      socket: (url: string, token: string, h: Parameters<typeof socket>[2]) =>
        socket(url, token, {
          ...h,
          message(text: string) {
            const f = JSON.parse(text) as { type: string; message?: Record<string, unknown>; messages?: Record<string, unknown>[] };
            const bads = (m: Record<string, unknown>) =>
              [{ fromDevice: 0 }, { from: 'EVE' }, { fromDevice: 2 ** 40 }].map((bad) => ({ ...m, id: b64(p.randomBytes(16)), ...bad }));
            if (f.type === 'message' && f.message) {
              for (const bad of bads(f.message)) h.message(JSON.stringify({ type: 'message', message: bad }));
            }
            if (f.type === 'messages' && f.messages) {
              // blindrelay.v2 batches (docs/API.md §12): the malformed copies go into the same frame.
              h.message(JSON.stringify({ type: 'messages', messages: f.messages.flatMap((m) => [...bads(m), m]) }));
              return;
            }
            h.message(text);
          },
        }),
    };
    const { BlindrelayClient } = await import('../../packages/client/src/client.js');
    const listener = await BlindrelayClient.open(env);
    const parkedBefore = await listener.parked();
    const done = listener.listen({
      signal: controller.signal,
      onMessage: (m) => {
        got.push(m.text);
        controller.abort();
      },
      onFailure: (f) => void failures.push(f),
    });
    await done;
    listener.close();
    expect(got).toEqual(['pushed']);
    expect(failures.map((f) => f.code)).toEqual([RELAY_ENVELOPE_FAULT, RELAY_ENVELOPE_FAULT, RELAY_ENVELOPE_FAULT]);
    expect(await alice.client.parked()).toEqual(parkedBefore);
  });
});
