/**
 * The in-memory cache of decoded group states (groups/state-cache.ts): a state is served without
 * decoding only for exactly the bytes it was decoded from or encoded to; other bytes (written by
 * another process) are decoded afresh; a served state carries the caller's device verifier.
 */
import { DecodeError } from '@blindrelay/protocol';
import type { CiphersuiteImpl } from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import { groupSuite } from '../../src/groups/ciphersuite.js';
import { commit, createGroupState, encodeState, groupEpoch, groupMembers } from '../../src/groups/group-state.js';
import { GroupStateCache } from '../../src/groups/state-cache.js';
import { Directory, keyPackageOf } from './harness.js';

let cs: CiphersuiteImpl;
beforeAll(async () => {
  cs = await groupSuite();
});

describe('group state cache', () => {
  it('serves a kept state only for the same bytes; other bytes are decoded', async () => {
    const dir = new Directory();
    const ann = dir.device('ann', 1);
    const ben = dir.device('ben', 1);
    const s0 = await createGroupState(ann.keys, await keyPackageOf(ann, cs), crypto.getRandomValues(new Uint8Array(16)), 'g', dir.verify, cs);
    const s1 = (await commit(s0, { add: [(await keyPackageOf(ben, cs)).publicPackage] }, cs)).state;
    const cache = new GroupStateCache();
    const bytes0 = encodeState(s0);

    const first = cache.decode('g', bytes0, dir.verify);
    expect(cache.hits).toBe(0);
    // The same bytes, read again (another object): served from memory, with this caller's verifier.
    const otherVerify = dir.verify.bind(dir);
    const again = cache.decode('g', bytes0.slice(), otherVerify);
    expect(cache.hits).toBe(1);
    expect(again.ratchetTree).toBe(first.ratchetTree);
    expect(again.clientConfig.authService).not.toBe(first.clientConfig.authService);

    // Another process stored the next epoch: decoded, not the kept state.
    const bytes1 = encodeState(s1);
    const next = cache.decode('g', bytes1, dir.verify);
    expect(cache.hits).toBe(1);
    expect(groupEpoch(next)).toBe(1n);
    expect(groupMembers(next).map((m) => m.user)).toEqual(['ann', 'ben']);
    // ... and the older bytes again are decoded too (only the last bytes are kept).
    expect(groupEpoch(cache.decode('g', bytes0, dir.verify))).toBe(0n);
    expect(cache.hits).toBe(1);

    // What this client stores is kept for exactly those bytes.
    const stored = cache.encode('g', s1);
    expect(cache.decode('g', stored, dir.verify).ratchetTree).toBe(s1.ratchetTree);
    expect(cache.hits).toBe(2);
    // One byte changed: not served from memory (decoded, or refused as not a state).
    const tampered = stored.slice();
    tampered.set([(tampered.at(-1) as number) ^ 1], tampered.length - 1);
    try {
      cache.decode('g', tampered, dir.verify);
    } catch (e) {
      expect(e).toBeInstanceOf(DecodeError);
    }
    expect(cache.hits).toBe(2);
    cache.forget('g');
    cache.decode('g', stored, dir.verify);
    expect(cache.hits).toBe(2);
  });
});
