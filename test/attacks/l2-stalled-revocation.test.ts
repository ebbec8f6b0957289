/**
 * Review finding L2 (security-2026-12.md): a file revocation could be left half done for good, so
 * cryptographic erasure never happened. The revoked reader left the relay's access list at once,
 * but the stored copy stayed under the file key they hold: when the revocation's new version was
 * gone (pruned by the relay after a day, or "pruned" at will by a hostile relay), every later
 * `revoke` failed on the stale upload record, and nothing else finished it. A share or re-wrap from
 * another device of the owner meanwhile started from the old reader list and put the revoked
 * reader back on the relay's access list; a revocation from another device re-encrypted for them.
 *
 * The attacks, against a real relay process: (1) the relay drops the pending version of an
 * interrupted revocation (it answers as if the version never existed); (2) while a revocation is
 * pending, another device of the owner shares the file, re-wraps it, or revokes another reader —
 * also a device that is not told about the pending version.
 *
 * What stops them now (docs/PROTOCOL.md §15.5, docs/API.md §8): the owner's next action on the
 * file (revoke, share, re-wrap, `resumeRevocations` / `blindrelay file resume`) finishes the
 * unfinished revocation, restarting it under a fresh key when its new version is gone; the relay
 * refuses a header change while a pending version exists (409 `revocation_pending`), the SDK
 * refuses to share or re-wrap then (RevocationPendingError), and a revocation from another device
 * keeps only readers the pending version's owner-signed list keeps.
 */
import { describe, expect, it } from 'vitest';
import { NotFoundError, RevocationPendingError } from '../../packages/client/src/errors.js';
import { UPLOAD_PART_BYTES } from '../../packages/client/src/files.js';
import { fileSource } from '../../packages/client/src/node.js';
import { type Device, linkDevice } from '../../packages/client/test/devices.js';
import { download, fileKeyFor, fileWorld, isFileGet, opensWith, rawPayload, relayFile, rewriteJson } from './file-fixture.js';

const world = fileWorld('l2');
const same = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && Buffer.from(a).equals(Buffer.from(b));

/** Start revoking `user` from `owner`'s file and cut the connection at the first payload part: the relay holds a pending version. */
async function interruptedRevocation(owner: Device, id: string, user: string): Promise<number> {
  const stop = new AbortController();
  owner.hook.fn = async (u, init, next) => {
    if (init?.method === 'PUT' && u.includes('/payload')) {
      stop.abort();
      throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    }
    return next();
  };
  await expect(owner.client.revokeFile(id, user, { signal: stop.signal })).rejects.toThrow();
  owner.hook.fn = null;
  const pending = (await relayFile(world, owner, id)).pending;
  expect(pending).toBeDefined();
  return (pending as { version: number }).version;
}

/** The relay "prunes" pending version `version` of file `id`: it no longer shows it, and refuses uploads to it as to a version that does not exist. */
function dropPending(owner: Device, id: string, version: number): void {
  owner.hook.fn = async (u, init, next) => {
    if (init?.method === 'PUT' && new URL(u).pathname === `/v1/files/${id}/versions/${version}/payload`) {
      return Response.json({ code: 'not_found', message: 'no such file of yours, or no such version being uploaded' }, { status: 404 });
    }
    const res = await next();
    if (!isFileGet(u, init, id)) return res;
    return rewriteJson(res, (body) => {
      const { pending, ...rest } = body as { pending?: { version: number } };
      return pending?.version === version ? rest : body;
    });
  };
}

/** Three users, a file of two and a bit upload parts from the owner, read by the other two. */
async function sharedFile(name: string) {
  const alice = await world.newUser('alice');
  const bob = await world.newUser('bob');
  const carol = await world.newUser('carol');
  const f = await world.plainFile(name, 2 * UPLOAD_PART_BYTES + 4321);
  const { file } = await alice.client.putFile(await fileSource(f.path), { to: [bob.client.user, carol.client.user] });
  const oldKey = await fileKeyFor(bob, (await relayFile(world, bob, file.id)).header);
  return { alice, bob, carol, f, id: file.id, oldKey };
}

describe('L2: a stalled revocation', () => {
  it.each(['revoke again', 'share with someone else', 'resume revocations'] as const)(
    "is finished under a fresh key by the owner's next action (%s) when the relay dropped its new version",
    async (action) => {
      const { alice, bob, carol, f, id, oldKey } = await sharedFile('minutes.txt');
      const dave = await world.newUser('dave');
      const dropped = await interruptedRevocation(alice, id, bob.client.user);
      // Bob is cut off at once, but the stored copy is still the one his key opens.
      await expect(bob.client.statFile(id)).rejects.toBeInstanceOf(NotFoundError);
      expect(await opensWith(oldKey, await rawPayload(world, alice, id))).toBe(true);

      dropPending(alice, id, dropped);
      if (action === 'revoke again') await alice.client.revokeFile(id, bob.client.user);
      else if (action === 'share with someone else') await alice.client.shareFile(id, dave.client.user);
      else expect(await alice.client.resumeRevocations()).toEqual([id]);
      alice.hook.fn = null;

      const after = await relayFile(world, alice, id);
      expect(after.pending).toBeUndefined();
      expect(after.version).toBeGreaterThan(dropped);
      expect(await alice.client.pendingUploads()).toEqual([]);
      // Cryptographic erasure: what the relay stores no longer opens with the key Bob holds.
      const stored = await rawPayload(world, alice, id);
      expect(await opensWith(oldKey, stored)).toBe(false);
      expect(await opensWith(await fileKeyFor(alice, after.header), stored)).toBe(true);
      const info = await alice.client.statFile(id);
      expect(info.readers).toEqual(action === 'share with someone else' ? [carol.client.user, dave.client.user].sort() : [carol.client.user]);
      expect(info.contents).toBe('signed');
      await expect(bob.client.statFile(id)).rejects.toBeInstanceOf(NotFoundError);
      expect(same((await download(world, carol, id)).bytes, f.bytes)).toBe(true);
    },
  );
});

describe('L2: another device of the owner while a revocation is pending', () => {
  /** Alice with two devices (both able to open the file), Bob and Carol reading it. */
  async function twoDevices() {
    const alice = await world.newUser('alice');
    const second = await linkDevice(alice);
    const bob = await world.newUser('bob');
    const carol = await world.newUser('carol');
    const dave = await world.newUser('dave');
    const f = await world.plainFile('board.pdf', 2 * UPLOAD_PART_BYTES + 99);
    // Stored from the second device: its own file key is published first, the first device's is in its list.
    const { file, skipped } = await second.client.putFile(await fileSource(f.path), { to: [bob.client.user, carol.client.user] });
    expect(skipped).toEqual([]);
    return { alice, second, bob, carol, dave, f, id: file.id };
  }

  it('cannot share or re-wrap the file to the revoked reader again', async () => {
    const { alice, second, bob, carol, dave, f, id } = await twoDevices();
    await interruptedRevocation(alice, id, bob.client.user);
    await expect(second.client.shareFile(id, dave.client.user)).rejects.toBeInstanceOf(RevocationPendingError);
    await expect(second.client.rewrapFile(id)).rejects.toBeInstanceOf(RevocationPendingError);
    // The relay's access list does not take Bob back either.
    expect((await relayFile(world, alice, id)).readers).toEqual([carol.client.user]);
    await expect(bob.client.statFile(id)).rejects.toBeInstanceOf(NotFoundError);

    // The first device finishes; the second one shares now, from the new version's list.
    await alice.client.revokeFile(id, bob.client.user);
    const shared = await second.client.shareFile(id, dave.client.user);
    expect(shared.file.readers).toEqual([carol.client.user, dave.client.user].sort());
    await expect(bob.client.statFile(id)).rejects.toBeInstanceOf(NotFoundError);
    expect(same((await download(world, dave, id)).bytes, f.bytes)).toBe(true);
  });

  it('a device that does not see the pending version (an older SDK, an answer that lost it) is refused by the relay', async () => {
    const { alice, second, bob, carol, dave, id } = await twoDevices();
    await interruptedRevocation(alice, id, bob.client.user);
    // The second device is not told about the pending version; its share goes out with the current revision.
    second.hook.fn = async (u, init, next) => {
      const res = await next();
      return isFileGet(u, init, id) ? rewriteJson(res, ({ pending: _hidden, ...rest }) => rest) : res;
    };
    await expect(second.client.shareFile(id, dave.client.user)).rejects.toBeInstanceOf(RevocationPendingError);
    second.hook.fn = null;
    expect((await relayFile(world, alice, id)).readers).toEqual([carol.client.user]);
    await expect(bob.client.statFile(id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(dave.client.statFile(id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('a revocation of another reader from the other device keeps the first one out', async () => {
    const { alice, second, bob, carol, id } = await twoDevices();
    const oldKey = await fileKeyFor(bob, (await relayFile(world, bob, id)).header);
    await interruptedRevocation(alice, id, bob.client.user);
    const r = await second.client.revokeFile(id, carol.client.user);
    expect(r.file.readers).toEqual([]);
    await expect(bob.client.statFile(id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(carol.client.statFile(id)).rejects.toBeInstanceOf(NotFoundError);
    const after = await relayFile(world, alice, id);
    expect(after.readers).toEqual([]);
    // Bob has no stanza in the new header, and his old key does not open what is stored.
    await expect(fileKeyFor(bob, after.header)).rejects.toThrow();
    expect(await opensWith(oldKey, await rawPayload(world, alice, id))).toBe(false);
    // The first device's own record is finished by its next action (its version was replaced).
    await alice.client.resumeRevocations();
    expect(await alice.client.pendingUploads()).toEqual([]);
    expect((await alice.client.statFile(id)).readers).toEqual([]);
    await expect(bob.client.statFile(id)).rejects.toBeInstanceOf(NotFoundError);
  });
});
