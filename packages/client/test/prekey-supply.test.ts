/**
 * A short one-time prekey supply at creation (CreateAccountOptions.oneTimePreKeys; docs/PROTOCOL.md
 * §5): a device with none left on the relay still receives first contacts (signed prekey and
 * last-resort ML-KEM prekey, PQXDH rev. 2 §3.3), `replenishPreKeys(true)` brings both kinds to the
 * target, and two top-ups at once upload once. A real relay (relay-fixture.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlindrelayClient } from '../src/client.js';
import { InvalidArgumentError } from '../src/errors.js';
import { ONE_TIME_PREKEY_TARGET } from '../src/prekeys.js';
import type { ReceivedMessage } from '../src/profile.js';
import { deviceApi, environment } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let relay: TestRelay;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-prekey-supply-'));
  relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await relay?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The relay's one-time counts of a device (its status also names the signed and last-resort ids). */
const counts = async (api: Awaited<ReturnType<typeof deviceApi>>) => {
  const s = await api.preKeyStatus();
  return { oneTimePreKeys: s.oneTimePreKeys, pqPreKeys: s.pqPreKeys };
};

const texts = async (c: BlindrelayClient) => {
  const got: ReceivedMessage[] = [];
  await c.receive({ onMessage: (m) => void got.push(m) });
  return got.map((m) => m.text);
};

describe('one-time prekey supply', () => {
  it('a device that published none receives a first contact, then tops up to the target once', async () => {
    const a = environment();
    const alice = await BlindrelayClient.createAccount(a.env, { servers: relay.url, user: 'alice', oneTimePreKeys: 0 });
    const b = environment();
    const bob = await BlindrelayClient.createAccount(b.env, { servers: relay.url, user: 'bob' });
    const aliceApi = await deviceApi(a, relay.url);
    const bobApi = await deviceApi(b, relay.url);
    expect(await counts(aliceApi)).toEqual({ oneTimePreKeys: 0, pqPreKeys: 0 });
    // The default is unchanged (the CLI's): the full target at creation.
    expect(await counts(bobApi)).toEqual({ oneTimePreKeys: ONE_TIME_PREKEY_TARGET, pqPreKeys: ONE_TIME_PREKEY_TARGET });

    // First contact with no one-time prekey of either kind: signed prekey + last-resort ML-KEM.
    await bob.send('alice', 'hello alice');
    expect(await texts(alice)).toEqual(['hello alice']);
    await alice.send('bob', 'hi bob');
    expect(await texts(bob)).toEqual(['hi bob']);
    // Receiving a first contact below the low watermark tops up (as before): the target.
    expect(await counts(aliceApi)).toEqual({ oneTimePreKeys: ONE_TIME_PREKEY_TARGET, pqPreKeys: ONE_TIME_PREKEY_TARGET });

    // Two top-ups at once (a `prekeys-low` push and a scheduled one): one uploads, the other finds the target reached.
    const c = environment();
    const carol = await BlindrelayClient.createAccount(c.env, { servers: relay.url, user: 'carol', oneTimePreKeys: 3 });
    const carolApi = await deviceApi(c, relay.url);
    expect(await counts(carolApi)).toEqual({ oneTimePreKeys: 3, pqPreKeys: 3 });
    const [r1, r2] = await Promise.all([carol.replenishPreKeys(true), carol.replenishPreKeys(true)]);
    expect([r1, r2]).toEqual([
      { oneTime: ONE_TIME_PREKEY_TARGET - 3, pq: ONE_TIME_PREKEY_TARGET - 3 },
      { oneTime: 0, pq: 0 },
    ]);
    expect(await counts(carolApi)).toEqual({ oneTimePreKeys: ONE_TIME_PREKEY_TARGET, pqPreKeys: ONE_TIME_PREKEY_TARGET });
    // The profile kept what was uploaded: first contacts that use one-time keys of both kinds open.
    await alice.send('carol', 'hello from alice');
    await bob.send('carol', 'hello from bob');
    expect((await texts(carol)).sort()).toEqual(['hello from alice', 'hello from bob']);
    expect(await counts(carolApi)).toEqual({ oneTimePreKeys: ONE_TIME_PREKEY_TARGET - 2, pqPreKeys: ONE_TIME_PREKEY_TARGET - 2 });
    for (const x of [alice, bob, carol]) x.close();
  });

  it('refuses a supply outside 0..ONE_TIME_PREKEY_TARGET with a typed error and no profile', async () => {
    for (const oneTimePreKeys of [-1, 1.5, ONE_TIME_PREKEY_TARGET + 1, Number.NaN]) {
      const e = environment();
      await expect(BlindrelayClient.createAccount(e.env, { servers: relay.url, user: 'dave', oneTimePreKeys })).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(await e.storage.exists()).toBe(false);
    }
  });
});
