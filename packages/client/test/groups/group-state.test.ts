/**
 * Groups on MLS (RFC 9420), in process: devices as leaves with device credentials, commits adding
 * and removing devices, application messages, removal really removing, and bad input (untrusted
 * KeyPackages, malformed and foreign messages) refused with typed errors and no state change.
 */
import { utf8 } from '@blindrelay/protocol';
import type { CiphersuiteImpl } from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import { groupSuite } from '../../src/groups/ciphersuite.js';
import { GroupError } from '../../src/groups/errors.js';
import {
  commit,
  createGroupState,
  decodeState,
  encodeState,
  encryptApplication,
  groupEpoch,
  groupMembers,
  groupName,
  joinFromWelcome,
  processGroupMessage,
} from '../../src/groups/group-state.js';
import { Directory, keyPackageOf } from './harness.js';

let cs: CiphersuiteImpl;
beforeAll(async () => {
  cs = await groupSuite();
});

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const groupId = () => crypto.getRandomValues(new Uint8Array(16));

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toSatisfy((e: unknown) => e instanceof GroupError && e.code === code);
}

describe('group state', () => {
  it('create, add devices of two users, send, remove one user: only current members read', async () => {
    const dir = new Directory();
    const alice = dir.device('alice', 1);
    const bob1 = dir.device('bob', 1);
    const bob2 = dir.device('bob', 2);
    const carol = dir.device('carol', 1);
    const own = await keyPackageOf(alice, cs);
    let a = await createGroupState(alice.keys, own, groupId(), 'Project Canary 🐦', dir.verify, cs);
    expect(groupEpoch(a)).toBe(0n);

    const kps = [await keyPackageOf(bob1, cs), await keyPackageOf(bob2, cs), await keyPackageOf(carol, cs)];
    const added = await commit(a, { add: kps.map((k) => k.publicPackage) }, cs);
    a = added.state;
    expect(added.welcome).toBeDefined();
    const joined = await Promise.all(kps.map((kp) => joinFromWelcome(added.welcome as Uint8Array, kp, dir.verify, cs)));
    let [b1, b2, c] = joined as [typeof a, typeof a, typeof a];
    expect(groupName(c)).toBe('Project Canary 🐦');
    expect(groupMembers(c).map((m) => `${m.user}/${m.deviceId}`)).toEqual(['alice/1', 'bob/1', 'bob/2', 'carol/1']);

    const sent = await encryptApplication(a, utf8('hello group'), cs);
    a = sent.state;
    for (const s of [b1, b2, c]) {
      const r = await processGroupMessage(s, sent.message, cs);
      expect(r.kind).toBe('application');
      if (r.kind === 'application') {
        expect(text(r.plaintext)).toBe('hello group');
        expect(r.sender).toEqual({ user: 'alice', deviceId: 1 });
      }
    }

    // Remove carol: bob's devices apply the commit; carol processing it learns she is out.
    const carolLeaf = groupMembers(a).find((m) => m.user === 'carol')?.leafIndex as number;
    const removed = await commit(a, { remove: [carolLeaf] }, cs);
    a = removed.state;
    b1 = (await processGroupMessage(b1, removed.commit, cs)).state;
    b2 = (await processGroupMessage(b2, removed.commit, cs)).state;
    const carolSees = await processGroupMessage(c, removed.commit, cs);
    expect(carolSees.kind === 'commit' && carolSees.removedSelf).toBe(true);

    const after = await encryptApplication(b2, utf8('after carol left'), cs);
    b2 = after.state;
    const r = await processGroupMessage(a, after.message, cs);
    expect(r.kind === 'application' && text(r.plaintext)).toBe('after carol left');
    // Carol, with the state she had before or after the removal, reads nothing sent afterwards.
    await expectCode(processGroupMessage(c, after.message, cs), 'ERR_GROUP_BAD_MESSAGE');
    await expectCode(processGroupMessage(carolSees.state, after.message, cs), 'ERR_GROUP_BAD_MESSAGE');
    expect(groupMembers(a).map((m) => m.user)).toEqual(['alice', 'bob', 'bob']);

    // State survives encoding (the profile stores it as bytes).
    const restored = decodeState(encodeState(b1), dir.verify);
    const r2 = await processGroupMessage(restored, after.message, cs);
    expect(r2.kind === 'application' && text(r2.plaintext)).toBe('after carol left');
  });

  it('refuses a KeyPackage whose device is not in its user’s verified list, and changes nothing', async () => {
    const dir = new Directory();
    const alice = dir.device('alice', 1);
    const mallory = dir.device('mallory', 1);
    let a = await createGroupState(alice.keys, await keyPackageOf(alice, cs), groupId(), 'g', dir.verify, cs);
    const kp = await keyPackageOf(mallory, cs);
    dir.lists.delete('mallory/1'); // revoked (or never listed)
    const before = encodeState(a);
    await expectCode(commit(a, { add: [kp.publicPackage] }, cs), 'ERR_GROUP_UNTRUSTED_MEMBER');
    expect(encodeState(a)).toEqual(before);
    // A listed user whose KeyPackage is signed by another key: also refused.
    const eve = dir.device('eve', 1);
    const eveKp = await keyPackageOf(eve, cs);
    dir.device('eve', 1); // the list now holds a different key for eve/1
    await expectCode(commit(a, { add: [eveKp.publicPackage] }, cs), 'ERR_GROUP_UNTRUSTED_MEMBER');
    a = (await commit(a, {}, cs)).state;
    expect(groupEpoch(a)).toBe(1n);
  });

  it('refuses malformed, truncated, foreign and replayed messages with ERR_GROUP_BAD_MESSAGE, state unchanged', async () => {
    const dir = new Directory();
    const alice = dir.device('alice', 1);
    const bob = dir.device('bob', 1);
    let a = await createGroupState(alice.keys, await keyPackageOf(alice, cs), groupId(), 'g', dir.verify, cs);
    const kp = await keyPackageOf(bob, cs);
    const add = await commit(a, { add: [kp.publicPackage] }, cs);
    a = add.state;
    let b = await joinFromWelcome(add.welcome as Uint8Array, kp, dir.verify, cs);
    const sent = await encryptApplication(a, utf8('x'), cs);
    const before = encodeState(b);
    const flipped = sent.message.slice();
    flipped[flipped.length - 5] = (flipped[flipped.length - 5] as number) ^ 1;
    for (const bad of [new Uint8Array(0), sent.message.subarray(0, 40), flipped, Uint8Array.of(...sent.message, 0), add.welcome as Uint8Array])
      await expectCode(processGroupMessage(b, bad, cs), 'ERR_GROUP_BAD_MESSAGE');
    // Another group's message.
    const other = await createGroupState(alice.keys, await keyPackageOf(alice, cs), groupId(), 'other', dir.verify, cs);
    const foreign = await encryptApplication(other, utf8('y'), cs);
    await expectCode(processGroupMessage(b, foreign.message, cs), 'ERR_GROUP_BAD_MESSAGE');
    expect(encodeState(b)).toEqual(before);
    // The genuine message still decrypts once, and not twice (its key is deleted, RFC 9420 §9.2).
    const r = await processGroupMessage(b, sent.message, cs);
    b = r.state;
    await expectCode(processGroupMessage(b, sent.message, cs), 'ERR_GROUP_BAD_MESSAGE');
    await expectCode(joinFromWelcome(Uint8Array.of(0, 1, 0, 3, 0), kp, dir.verify, cs), 'ERR_GROUP_BAD_MESSAGE');
  });
});
