/**
 * Groups follow device lists, and files shared with a group (docs/PROTOCOL.md §22.6, §22.7; issue
 * 14), through the SDK against a real relay: a linked device becomes a leaf of its user's groups
 * at the next sync of another device of that user and reads what is sent afterwards (not before);
 * a revoked device is removed from every group (by its primary at once, or by any member's next
 * commit) and its kept state decrypts nothing sent afterwards; a group file is readable by the
 * members, re-keyed when a member is removed (the removed member cannot fetch it any more, its
 * old key does not open the new version), shared with a member added; a non-member cannot put one.
 * A device that joined from a Welcome makes one self-update (§22.6b) at its next sync; the creator none.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64url } from '../../src/base64url.js';
import { BlindrelayClient } from '../../src/client.js';
import { groupSuite } from '../../src/groups/ciphersuite.js';
import { GroupError } from '../../src/groups/errors.js';
import { decodeState, groupEpoch, groupMembers, leafFromKeyPackage, processGroupMessage } from '../../src/groups/group-state.js';
import { fileSource, saveFile } from '../../src/node.js';
import { Profile } from '../../src/profile.js';
import { type Device, deviceApi, environment, linkDevice, newUserAt, p } from '../devices.js';
import { startRelay, type TestRelay } from '../relay-fixture.js';

let dir: string;
let server: TestRelay;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'br-groups-devices-'));
  server = await startRelay({
    host: '127.0.0.1',
    port: 0,
    dataDir: join(dir, 'data'),
    logLevel: 'silent',
    processMetrics: false,
    rateLimits: { accountsPerIp: false },
  });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
const newUser = async (name: string) => {
  const d = await newUserAt(`${name}-${process.pid}-${++counter}`, server.url);
  await d.client.publishGroupKeyPackages();
  return d;
};
const texts = async (d: Device, id: string) => (await d.client.receiveGroupMessages()).filter((m) => m.group === id).map((m) => m.text);
const devicesOf = async (d: Device, id: string) => (await d.client.listGroupMembers(id)).map((m) => `${m.user}/${m.deviceId}`).sort();
const me = (d: Device) => `${d.client.user}/${d.client.deviceId}`;
/** The group messages `d` posts from now on (bytes as sent), to replay to someone else. */
function capture(d: Device): Uint8Array[] {
  const sent: Uint8Array[] = [];
  d.hook.fn = async (url, init, next) => {
    if (init?.method === 'POST' && /\/v1\/groups\/[^/]+\/messages$/.test(url))
      sent.push(fromBase64url((JSON.parse(String(init.body)) as { message: string }).message));
    return next();
  };
  return sent;
}
/** The stored state of group `id` on device `d` (as a thief of its disk would have it). */
async function storedState(d: Device, id: string) {
  const profile = await Profile.open(d.storage, p);
  const entry = (await profile.read('groups')).groups.get(id);
  profile.close();
  if (!entry) throw new Error('no state');
  return decodeState(entry.state, async () => true);
}

describe('groups follow device lists', () => {
  it('a linked device joins every group of its user and reads what is sent after; a revoked one is removed from all of them', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const g1 = await alice.client.createGroup('one', [bob.client.user]);
    const g2 = await bob.client.createGroup('two', [alice.client.user]);
    await alice.client.receiveGroupMessages();

    // The new device publishes its KeyPackages (the CLI does at link); alice's next sync adds it to both groups.
    const alice2 = await linkDevice(alice);
    await alice2.client.publishGroupKeyPackages();
    await bob.client.sendGroupMessage(g1, 'before the link');
    await alice.client.followGroups();
    await bob.client.sendGroupMessage(g1, 'after the link');
    await bob.client.sendGroupMessage(g2, 'in the second group');
    const got = await alice2.client.receiveGroupMessages();
    expect(got.filter((m) => m.group === g1).map((m) => m.text)).toEqual(['after the link']);
    expect(got.filter((m) => m.group === g2).map((m) => m.text)).toEqual(['in the second group']);
    expect((await alice2.client.listGroups()).map((g) => g.name).sort()).toEqual(['one', 'two']);
    for (const g of [g1, g2]) expect(await devicesOf(bob, g)).toEqual([me(alice), me(alice2), me(bob)].sort());

    // Two of alice's devices see a third one at once: one commit per group lands, the other syncs
    // after its 409 and finds the device already a leaf; nobody is stuck.
    const alice3 = await linkDevice(alice);
    await alice3.client.publishGroupKeyPackages();
    await Promise.all([alice.client.followGroups(), alice2.client.followGroups()]);
    for (const g of [g1, g2]) expect(await devicesOf(bob, g)).toEqual([me(alice), me(alice2), me(alice3), me(bob)].sort());
    await bob.client.sendGroupMessage(g2, 'to three devices');
    for (const d of [alice, alice2, alice3]) expect((await texts(d, g2)).at(-1)).toBe('to three devices');

    // Revoking (primary) removes the device's leaf from every group at once.
    const kept = await storedState(alice2, g1);
    await alice.client.revoke(alice2.client.deviceId);
    for (const g of [g1, g2]) expect(await devicesOf(bob, g)).toEqual([me(alice), me(alice3), me(bob)].sort());
    const sent = capture(bob);
    await bob.client.sendGroupMessage(g1, 'after the revocation');
    bob.hook.fn = null;
    expect(await texts(alice, g1)).toEqual(['after the revocation']);
    expect(await texts(alice3, g1)).toEqual(['after the revocation']);
    // The revoked device's state (kept from before) cannot read what was sent after its removal.
    expect(sent).toHaveLength(1);
    await expect(processGroupMessage(kept, sent[0] as Uint8Array, await groupSuite())).rejects.toSatisfy(
      (e) => e instanceof GroupError && e.code === 'ERR_GROUP_BAD_MESSAGE',
    );
  }, 60_000);

  it('a revoked leaf the primary did not remove is removed by the next commit of any member', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const carol = await newUser('carol');
    const alice2 = await linkDevice(alice);
    await alice2.client.publishGroupKeyPackages();
    const id = await alice.client.createGroup('g', [bob.client.user]);
    expect(await devicesOf(bob, id)).toEqual([me(alice), me(alice2), me(bob)].sort());
    // The primary's follow-up commit fails (relay unreachable for it): the leaf stays for now.
    alice.hook.fn = async (url, init, next) => (url.includes('/v1/groups/') && init?.method === 'POST' ? new Response(null, { status: 503 }) : next());
    await alice.client.revoke(alice2.client.deviceId);
    alice.hook.fn = null;
    expect(await devicesOf(bob, id)).toContain(me(alice2));
    // bob's next commit (adding carol) also removes it: the relay already dropped it from delivery,
    // and bob checks alice's verified list (a commit naming it as a member would be refused).
    await bob.client.addGroupMember(id, carol.client.user);
    expect(await devicesOf(carol, id)).toEqual([me(alice), me(bob), me(carol)].sort());
    await carol.client.sendGroupMessage(id, 'hello');
    expect(await texts(alice, id)).toEqual(['hello']);
  }, 60_000);
});

describe('files shared with a group', () => {
  it('members read it; a removed member loses it (re-keyed by the owner at its next sync); an added member gets it', async () => {
    const [alice, bob, carol, dave] = (await Promise.all(['alice', 'bob', 'carol', 'dave'].map(newUser))) as [Device, Device, Device, Device];
    const id = await alice.client.createGroup('files', [bob.client.user, carol.client.user]);
    const path = join(dir, `canary-group-file-${counter}.txt`);
    const bytes = p.randomBytes(70_000);
    await writeFile(path, bytes);
    await expect(dave.client.putGroupFile(id, await fileSource(path))).rejects.toMatchObject({ code: 'ERR_GROUP_NOT_MEMBER' });

    const { file } = await alice.client.putGroupFile(id, await fileSource(path));
    expect([...file.readers].sort()).toEqual([bob.client.user, carol.client.user].sort());
    const get = async (d: Device) => new Uint8Array(await readFile((await saveFile(d.client, file.id, { output: await mkdtemp(join(dir, 'get-')) })).path));
    expect(await get(bob)).toEqual(bytes);
    expect(await get(carol)).toEqual(bytes);
    const carolHeader = (await (await deviceApi(carol, server.url)).getFile(file.id)).header;

    // bob (not the owner) removes carol; alice's next sync re-keys the file without her.
    await bob.client.removeGroupMember(id, carol.client.user);
    await alice.client.receiveGroupMessages();
    const after = await alice.client.statFile(file.id);
    expect(after.version).toBeGreaterThan(file.version);
    expect(after.readers).toEqual([bob.client.user]);
    await expect(get(carol)).rejects.toMatchObject({ code: 'ERR_RELAY_NOT_FOUND' });
    expect(await get(bob)).toEqual(bytes);
    // The header carol held does not open the new version's payload key: a new file key.
    expect((await (await deviceApi(bob, server.url)).getFile(file.id)).header).not.toEqual(carolHeader);

    // alice adds dave: the file is shared with him at once.
    const r = await alice.client.addGroupMember(id, dave.client.user);
    expect(r).toEqual({ updated: [file.id], failed: [] });
    expect(await get(dave)).toEqual(bytes);
  }, 60_000);
});

describe('self-update after a Welcome (docs/PROTOCOL.md §22.6b)', () => {
  it('a joiner replaces its KeyPackage leaf key by one commit at its next sync; the creator makes none', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const id = await alice.client.createGroup('healed', [bob.client.user]);
    const bobLeaf = async (d: Device) => {
      const s = await storedState(d, id);
      const leaf = groupMembers(s).find((m) => m.user === bob.client.user)?.leafIndex as number;
      const node = s.ratchetTree[leaf * 2];
      if (node?.nodeType !== 'leaf') throw new Error('no leaf');
      return { epoch: groupEpoch(s), source: node.leaf.leafNodeSource, key: node.leaf.hpkePublicKey };
    };
    const added = await bobLeaf(alice);
    expect(added).toMatchObject({ epoch: 1n, source: 'key_package' });

    // bob's sync: joins from the Welcome, then commits an UpdatePath (epoch 2).
    await alice.client.sendGroupMessage(id, 'first');
    expect(await texts(bob, id)).toEqual(['first']);
    expect(leafFromKeyPackage(await storedState(bob, id))).toBe(false);
    const updated = await bobLeaf(bob);
    expect(updated.epoch).toBe(2n);
    expect(updated.source).toBe('commit');
    expect(Buffer.from(updated.key).equals(Buffer.from(added.key))).toBe(false);

    // alice applies it and makes no self-update of her own (her leaf key was never published).
    await alice.client.receiveGroupMessages();
    expect(await bobLeaf(alice)).toEqual(updated);
    expect(leafFromKeyPackage(await storedState(alice, id))).toBe(true);
    // Both synced again: nothing more is committed; messages still flow both ways.
    await bob.client.sendGroupMessage(id, 'second');
    expect(await texts(alice, id)).toEqual(['second']);
    expect(groupEpoch(await storedState(alice, id))).toBe(2n);
    expect(groupEpoch(await storedState(bob, id))).toBe(2n);

    // Another client on bob's profile (as another process) applies alice's next commit; bob's first
    // client, which keeps its decoded state in memory (state-cache.ts), is not served the older one.
    const carol = await newUser('carol');
    await alice.client.addGroupMember(id, carol.client.user);
    const other = await BlindrelayClient.open(environment(bob.storage).env);
    expect((await other.listGroups()).map((g) => g.epoch)).toEqual([3]);
    expect((await bob.client.listGroups()).map((g) => g.epoch)).toEqual([3]);
    await bob.client.sendGroupMessage(id, 'third');
    expect(await texts(carol, id)).toEqual(['third']);
    other.close();
  }, 60_000);

  it('a page of the group inbox is stored in one write, before its ack', async () => {
    const alice = await newUser('alice');
    const bob = await newUser('bob');
    const id = await alice.client.createGroup('paged', [bob.client.user]);
    expect(await texts(bob, id)).toEqual([]);
    for (let i = 0; i < 6; i++) await alice.client.sendGroupMessage(id, `m${i}`);
    const writes = new Map<string, number>();
    const write = bob.storage.write.bind(bob.storage);
    bob.storage.write = async (name, data) => {
      writes.set(name, (writes.get(name) ?? 0) + 1);
      return write(name, data);
    };
    expect(await texts(bob, id)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    // Six messages: the page's one write and receive's hand-out of the messages, not one per item.
    expect(Math.max(...writes.values())).toBeLessThanOrEqual(2);
  }, 60_000);
});
