/**
 * The signing key remembered per connection (src/http/device-key.ts) against the relay's real
 * storage and its real nonce guard: one read per connection object, and a key that went stale
 * (the device re-listed under the same id with new keys, or revoked) is refused by the guard and
 * checked again with the key read afresh, so the answer is the uncached one.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withSigningKey } from '../src/http/device-key.js';
import { ApiError } from '../src/http/errors.js';
import { account, b64, newDevice, nextList, p, prekeyJson, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeEach(async () => {
  t = await startTestServer();
});
afterEach(async () => {
  await t.close();
});

describe('signing key per connection', () => {
  it('is read once per connection; a stale one is checked again with the stored key; other refusals are not', async () => {
    const alice = await account(t.api, 'alice');
    const deviceId = alice.d.keys.deviceId;
    const storage = t.server.storage;
    const reads = vi.spyOn(storage.accounts, 'getDevice');
    const keysUsed: (Uint8Array | undefined)[] = [];
    // What the request checks do with the key: the nonce statement that requires the device to be listed with it.
    const check = async (key: Uint8Array | undefined) => {
      keysUsed.push(key);
      if (!key) throw new ApiError(401, 'unauthorized', 'not listed');
      const used = await storage.requestNonces.use('alice', deviceId, p.randomBytes(16), t.clock.now() + 60_000, key);
      if (used === 'unknown_device') throw new ApiError(401, 'bad_signature', 'not listed with this key');
      return key;
    };
    const conn = { user: 'alice', deviceId };

    const first = await withSigningKey(storage, conn, check);
    expect(first).toEqual(alice.d.keys.signing.publicKey);
    expect(await withSigningKey(storage, conn, check)).toEqual(first);
    expect(reads).toHaveBeenCalledTimes(1);
    // Another connection of the same device reads its own.
    await withSigningKey(storage, { user: 'alice', deviceId }, check);
    expect(reads).toHaveBeenCalledTimes(2);

    // A refusal that is not about the key: no second read, no second check.
    const replayed = () => Promise.reject(new ApiError(401, 'replayed_signature', 'replayed'));
    await expect(withSigningKey(storage, conn, replayed)).rejects.toMatchObject({ code: 'replayed_signature' });
    expect(reads).toHaveBeenCalledTimes(2);

    // The same device id re-listed with new keys: the remembered key is refused by the guard, then the stored one is used.
    const rekeyed = await newDevice({ deviceId, user: 'alice' });
    const list = await nextList(alice.u, [rekeyed]);
    const put = await t.api.req('PUT', '/v1/users/alice/device-list', {
      body: { deviceList: b64(list), newDevice: { deviceId, prekeys: prekeyJson(rekeyed) } },
    });
    expect(put.status).toBe(204);
    keysUsed.length = 0;
    expect(await withSigningKey(storage, conn, check)).toEqual(rekeyed.keys.signing.publicKey);
    expect(keysUsed).toEqual([first, rekeyed.keys.signing.publicKey]);
    expect(reads).toHaveBeenCalledTimes(3);
    expect(await withSigningKey(storage, conn, check)).toEqual(rekeyed.keys.signing.publicKey);
    expect(reads).toHaveBeenCalledTimes(3);
  });

  it('a device no longer listed is refused as an uncached read refuses it', async () => {
    const alice = await account(t.api, 'alice');
    const deviceId = alice.d.keys.deviceId;
    const storage = t.server.storage;
    const check = async (key: Uint8Array | undefined) => {
      if (!key) throw new ApiError(401, 'unauthorized', 'not listed');
      const used = await storage.requestNonces.use('alice', deviceId, p.randomBytes(16), t.clock.now() + 60_000, key);
      if (used === 'unknown_device') throw new ApiError(401, 'bad_signature', 'not listed with this key');
      return used;
    };
    const conn = { user: 'alice', deviceId };
    expect(await withSigningKey(storage, conn, check)).toBe('recorded');
    // The only device replaced by another (id 2): alice's first device is revoked.
    const other = await newDevice({ deviceId: deviceId + 1, user: 'alice' });
    const list = await nextList(alice.u, [other]);
    const put = await t.api.req('PUT', '/v1/users/alice/device-list', {
      body: { deviceList: b64(list), newDevice: { deviceId: deviceId + 1, prekeys: prekeyJson(other) } },
    });
    expect(put.status).toBe(204);
    await expect(withSigningKey(storage, conn, check)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
