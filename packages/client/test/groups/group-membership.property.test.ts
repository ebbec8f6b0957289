/**
 * Property (fast-check): over random interleavings of adds, removals (including re-adds) and sends
 * among five devices of three users, every device that is a member when a message is sent
 * decrypts it, and every device that is not (never joined, or removed) cannot, with the state it
 * has. Commits are delivered in one order to every member, as the relay orders them. A device
 * that joins makes its self-update (an empty commit with an UpdatePath, §22.6b) as the SDK does.
 */
import { utf8 } from '@blindrelay/protocol';
import fc from 'fast-check';
import type { CiphersuiteImpl, ClientState } from 'ts-mls';
import { beforeAll, describe, expect, it } from 'vitest';
import { groupSuite } from '../../src/groups/ciphersuite.js';
import { GroupError } from '../../src/groups/errors.js';
import {
  commit,
  createGroupState,
  encryptApplication,
  groupMembers,
  joinFromWelcome,
  leafFromKeyPackage,
  processGroupMessage,
} from '../../src/groups/group-state.js';
import { Directory, key, keyPackageOf, type TestDevice } from './harness.js';

let cs: CiphersuiteImpl;
beforeAll(async () => {
  cs = await groupSuite();
});

type Op = { kind: 'add' | 'remove' | 'send'; target: number; actor: number };
const op = fc.record({ kind: fc.constantFrom('add', 'remove', 'send', 'send'), target: fc.nat(4), actor: fc.nat(4) }) as fc.Arbitrary<Op>;

describe('group membership (property)', () => {
  it('members read exactly the messages sent while they are members', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 3, maxLength: 10 }), async (ops) => {
        const dir = new Directory();
        const devices: TestDevice[] = [dir.device('ann', 1), dir.device('ann', 2), dir.device('ben', 1), dir.device('cat', 1), dir.device('cat', 2)];
        const first = devices[0] as TestDevice;
        first.state = await createGroupState(first.keys, await keyPackageOf(first, cs), crypto.getRandomValues(new Uint8Array(16)), 'p', dir.verify, cs);
        const members = new Set<number>([0]);
        /** States of removed devices, kept to try to read later messages. */
        const former = new Map<number, ClientState>();
        let n = 0;
        const pick = (from: Set<number>, i: number) => [...from][i % from.size] as number;
        for (const o of ops) {
          const actor = devices[pick(members, o.actor)] as TestDevice;
          const target = devices[o.target] as TestDevice;
          if (o.kind === 'send') {
            const body = `m${n++}`;
            const sent = await encryptApplication(actor.state as ClientState, utf8(body), cs);
            actor.state = sent.state;
            for (const i of members) {
              const d = devices[i] as TestDevice;
              if (d === actor) continue;
              const r = await processGroupMessage(d.state as ClientState, sent.message, cs);
              expect(r.kind).toBe('application');
              if (r.kind === 'application') {
                expect(new TextDecoder().decode(r.plaintext)).toBe(body);
                expect(r.sender).toEqual({ user: actor.keys.user, deviceId: actor.keys.deviceId });
              }
              d.state = r.state;
            }
            for (const [, s] of former)
              await expect(processGroupMessage(s, sent.message, cs)).rejects.toSatisfy((e) => e instanceof GroupError && e.code === 'ERR_GROUP_BAD_MESSAGE');
            continue;
          }
          const isMember = members.has(o.target);
          if (o.kind === 'add' && isMember) continue;
          if (o.kind === 'remove' && (!isMember || target === actor)) continue;
          const state = actor.state as ClientState;
          const kp = o.kind === 'add' ? await keyPackageOf(target, cs) : undefined;
          const leaf = groupMembers(state).find((m) => key(m) === key(target.keys))?.leafIndex;
          const out = await commit(state, kp ? { add: [kp.publicPackage] } : { remove: [leaf as number] }, cs);
          actor.state = out.state;
          for (const i of members) {
            const d = devices[i] as TestDevice;
            if (d === actor) continue;
            const r = await processGroupMessage(d.state as ClientState, out.commit, cs);
            expect(r.kind).toBe('commit');
            if (r.kind === 'commit') expect(r.removedSelf).toBe(d === target);
            d.state = r.state;
          }
          if (kp) {
            target.state = await joinFromWelcome(out.welcome as Uint8Array, kp, dir.verify, cs);
            members.add(o.target);
            former.delete(o.target);
            // The joiner's self-update, applied by every other member.
            expect(leafFromKeyPackage(target.state)).toBe(true);
            const update = await commit(target.state, {}, cs);
            target.state = update.state;
            expect(leafFromKeyPackage(target.state)).toBe(false);
            for (const i of members) {
              const d = devices[i] as TestDevice;
              if (d === target) continue;
              const r = await processGroupMessage(d.state as ClientState, update.commit, cs);
              expect(r.kind).toBe('commit');
              d.state = r.state;
            }
          } else {
            members.delete(o.target);
            former.set(o.target, target.state as ClientState);
            target.state = undefined;
          }
          // Every member sees the same membership.
          const expected = [...members].map((i) => key((devices[i] as TestDevice).keys)).sort();
          for (const i of members)
            expect(
              groupMembers((devices[i] as TestDevice).state as ClientState)
                .map(key)
                .sort(),
            ).toEqual(expected);
        }
      }),
      { numRuns: 6 },
    );
  }, 60_000);
});
