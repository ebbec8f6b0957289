/**
 * The SDK's account deletion (docs/API.md §1a, src/account-deletion.ts) against a real relay: the
 * primary deletes, its profile storage is erased, a listening companion ends with
 * AccountDeletedError, peers get NoSuchUserError (a NotFoundError, code ERR_NO_SUCH_USER) for a
 * send and a look-up; a skewed clock is corrected once; a device without the master key refuses
 * before sending anything.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteAccount } from '../src/account-deletion.js';
import type { Context } from '../src/context.js';
import { AccountDeletedError, NoSuchUserError, NotFoundError, NotPrimaryError } from '../src/errors.js';
import { MemoryStorage } from '../src/storage/memory.js';
import { linkDevice, newUserAt } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

let dir: string;
let server: TestRelay;
let counter = 0;
const unique = (name: string) => `${name}-${process.pid}-${++counter}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-deletion-'));
  server = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', processMetrics: false });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('deleteAccount', () => {
  it('deletes on the relay, erases the profile, ends a companion listener, and peers get NoSuchUserError', async () => {
    const zebra = await newUserAt(unique('zebra'), server.url);
    const companion = await linkDevice(zebra);
    const bob = await newUserAt(unique('bob'), server.url);
    await bob.client.send(zebra.client.user, 'queued for zebra');
    const abort = new AbortController();
    const listening = companion.client.listen({ signal: abort.signal, onMessage: () => {} });
    await new Promise((r) => setTimeout(r, 300));

    const user = zebra.client.user;
    const r = await zebra.client.deleteAccount();
    expect(r).toEqual({ user, deletedOnRelay: true, profile: 'memory' });
    expect((zebra.storage as MemoryStorage).files.size).toBe(0);

    await expect(listening).rejects.toBeInstanceOf(AccountDeletedError);
    const send = bob.client.send(user, 'hello?');
    await expect(send).rejects.toBeInstanceOf(NoSuchUserError);
    await expect(send).rejects.toBeInstanceOf(NotFoundError);
    await expect(send).rejects.toMatchObject({ code: 'ERR_NO_SUCH_USER', relayCode: 'no_such_user', status: 404 });
    await expect(bob.client.safetyNumber(user)).rejects.toBeInstanceOf(NoSuchUserError);
    abort.abort();
  }, 30_000);

  it('signs again in the relay time when this device clock is off', async () => {
    const zebra = await newUserAt(unique('zebra'), server.url);
    zebra.clock.offset = 10 * 60_000;
    const seen: number[] = [];
    zebra.hook.fn = async (url, _init, next) => {
      const res = await next();
      if (url.endsWith('/v1/accounts/deletion')) seen.push(res.status);
      return res;
    };
    expect((await zebra.client.deleteAccount()).deletedOnRelay).toBe(true);
    // The first statement was out of the window (401 stale_signature; the API layer re-signs only
    // the header once, so twice), the statement signed again in the relay's time is accepted.
    expect(seen).toEqual([401, 401, 204]);
  }, 30_000);

  it('refuses on a device without the master key, before sending anything', async () => {
    const storage = new MemoryStorage();
    const ctx = { account: { user: 'zebra', masterSeed: undefined } } as unknown as Context;
    await expect(deleteAccount(ctx, storage)).rejects.toBeInstanceOf(NotPrimaryError);
    await expect(deleteAccount(ctx, storage)).rejects.toMatchObject({ code: 'ERR_NOT_PRIMARY' });
  });
});
