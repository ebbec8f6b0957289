/**
 * Recipients' device lists kept for HTTP sends (services/recipient-lists.ts `ofSender`): one read
 * of a recipient's account per sending device instead of one per `POST /v1/messages`, with the
 * answers of uncached reads (the store refuses a send checked against a replaced list; a 409
 * worked out from a kept list is worked out again from a fresh read; no account is never kept),
 * and at most MAX_HTTP_SENDERS sending devices kept per store. The WebSocket side (per
 * connection) is tested in ws-send.test.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuthenticatedDevice } from '../src/context.js';
import { MAX_HTTP_SENDERS, type RecipientList, RecipientLists } from '../src/services/recipient-lists.js';
import type { Storage } from '../src/storage/types.js';
import { account, b64, newDevice, nextList, p, prekeyJson, startTestServer, type TestServer } from './helpers.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('recipient lists kept for HTTP sends', () => {
  it("reads a recipient's list once per sending device; a list changed since is read again, and the answers are the uncached ones", async () => {
    t = await startTestServer();
    const server = t;
    const alice = await account(server.api, 'alice');
    const bob = await account(server.api, 'bob', { deviceId: 7 });
    const reads = vi.spyOn(server.server.storage.accounts, 'get');
    const queued = async () => (await server.api.req('GET', '/v1/messages', { token: bob.token })).body.messages.length as number;
    // One HTTP send to `to`: its answer and how many account reads it made.
    const send = async (deviceIds: number[], to = 'bob', token = alice.token) => {
      const before = reads.mock.calls.length;
      const r = await server.api.req('POST', '/v1/messages', {
        token,
        body: { to, messages: deviceIds.map((deviceId) => ({ deviceId, body: b64(p.randomBytes(32)) })) },
      });
      return { status: r.status, ...r.body, reads: reads.mock.calls.length - before };
    };
    const setList = async (devices: Awaited<ReturnType<typeof newDevice>>[], added: Awaited<ReturnType<typeof newDevice>>) => {
      const list = await nextList(bob.u, devices);
      const r = await server.api.req('PUT', '/v1/users/bob/device-list', {
        body: { deviceList: b64(list), newDevice: { deviceId: added.keys.deviceId, prekeys: prekeyJson(added) } },
      });
      expect(r.status).toBe(204);
    };

    expect(await send([7])).toMatchObject({ status: 200, reads: 1 });
    expect(await send([7])).toMatchObject({ status: 200, reads: 0 });
    // Another sending device keeps its own.
    const carol = await account(server.api, 'carol');
    expect(await send([7], 'bob', carol.token)).toMatchObject({ status: 200, reads: 1 });
    // Bob links device 8: a send covering both passes (the kept list said 7 only: read again) ...
    const d8 = await newDevice({ deviceId: 8, user: 'bob' });
    await setList([bob.d, d8], d8);
    expect(await send([7, 8])).toMatchObject({ status: 200, reads: 1 });
    // ... and one covering 7 only is refused with what is stored now.
    expect(await send([7])).toMatchObject({ status: 409, code: 'mismatched_devices', missing: [8], stale: [], reads: 1 });
    // Device 8 re-keyed under the same id: the kept list (7, 8) still covers, the store refuses its
    // version, and the send goes through against the list read again.
    const d8b = await newDevice({ deviceId: 8, user: 'bob' });
    await setList([bob.d, d8b], d8b);
    const before = await queued();
    expect(await send([7, 8])).toMatchObject({ status: 200, reads: 1 });
    expect(await queued()).toBe(before + 1);
    expect(await send([7, 8])).toMatchObject({ status: 200, reads: 0 });
    // A name that is no account is read every time, never kept.
    expect(await send([1], 'nobody')).toMatchObject({ status: 404, reads: 1 });
    expect(await send([1], 'nobody')).toMatchObject({ status: 404, reads: 1 });
  });

  it('keeps at most MAX_HTTP_SENDERS sending devices per store, the least recent going first', async () => {
    const list: RecipientList = { listVersion: 1, devices: [{ deviceId: 1 }] };
    let reads = 0;
    const storage = {
      accounts: {
        get: async () => {
          reads++;
          return list;
        },
      },
    } as unknown as Pick<Storage, 'accounts'>;
    const other = { accounts: { get: storage.accounts.get } } as unknown as Pick<Storage, 'accounts'>;
    const device = (n: number) => ({ user: `u${n}`, deviceId: 1 }) as AuthenticatedDevice;
    const check = (s: Pick<Storage, 'accounts'>, n: number) => RecipientLists.ofSender(s, device(n)).check('bob', async (l) => l);
    await check(storage, 0);
    await check(storage, 0);
    expect(reads).toBe(1);
    await check(other, 0); // another store (another relay in this process) keeps its own
    expect(reads).toBe(2);
    for (let n = 1; n < MAX_HTTP_SENDERS; n++) await check(storage, n);
    await check(storage, 0); // still kept: the cap is not passed yet, and it is now the most recent
    expect(reads).toBe(2 + MAX_HTTP_SENDERS - 1);
    await check(storage, MAX_HTTP_SENDERS); // one more: the least recent (u1) goes
    await check(storage, 1);
    expect(reads).toBe(2 + MAX_HTTP_SENDERS + 1);
    await check(storage, 0);
    expect(reads).toBe(2 + MAX_HTTP_SENDERS + 1);
  });
});
