// Groups bench (issue 14): one MLS group of N member devices (suite 0x0053, in process) against
// our own pairwise fan-out of the same message to the same N devices (N Double Ratchet sessions),
// in the same run. N = 1000 (the figure), 8 with --quick. Not included: the relay's
// accept (HTTP + storage) on either side; the MLS wire bytes are one PrivateMessage, the
// pairwise ones N ratchet messages.
//
// Sends and commits are measured in CPU time of this process (process.cpuUsage: the "client CPU"),
// median of 3 (states are immutable values: the same commit is made three times from one state),
// in two tree shapes (RFC 9420 §7.9 resolution decides how many HPKE encryptions a path costs):
// - `blank`: the group as our SDK builds it (groups.ts: `group create --member ...` is one commit
//   adding every device; add-only commits carry no path, §12.4), so every parent node is blank
//   and a commit with a path encrypts to every leaf of the committer's copath subtrees (~N).
// - `filled`: the same group after one member in each sibling subtree along the paths of the
//   committer (leaf 0) and of the leaf added then removed (leaf N) joined from the Welcome and made
//   one empty commit (a path update, §12.4), in turn, every member still to commit and the
//   committer processing each commit as members do (fillers(): 13 members at N = 1000). Those
//   commits give keys to every node the measured commits' resolutions reach, as in a group whose
//   members have all committed: a path then costs O(log N) encryptions. Real commits throughout.
// Each measured commit starts from a state decoded from its bytes (decodeState, outside the timer),
// as the SDK does for every operation (groups.ts loads the state from the profile store): nothing
// ts-mls keeps on node objects (the patched tree-hash memo, docs/DECISIONS.md) carries over. The
// `_in_memory` rows make the commit from the state object the previous one left, as a client that
// keeps its states in memory would.
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { groupSuite } from '../packages/client/src/groups/ciphersuite.js';
import {
  commit,
  createGroupState,
  decodeState,
  encodeState,
  encryptApplication,
  groupMembers,
  joinFromWelcome,
  type NewKeyPackage,
  newKeyPackage,
  processGroupMessage,
} from '../packages/client/src/groups/group-state.js';
import { establish } from './peers/blindrelay.js';
import type { BenchOptions, BenchResult, Row } from './run.js';

type ClientState = Awaited<ReturnType<typeof createGroupState>>;

const verify = async () => true;
const device = (i: number) => {
  const { secretKey, publicKey } = ed25519.keygen();
  return { user: `u${i}`, deviceId: 1, signingSeed: secretKey, signingKey: publicKey };
};
/** CPU milliseconds (user + system) of this process, median of `runs`; `prepare` runs before each, outside the timer. */
async function cpuMs<T>(f: (t: T) => Promise<unknown>, runs = 3, prepare?: () => T): Promise<number> {
  const all: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = prepare?.() as T;
    const before = process.cpuUsage();
    await f(t);
    const d = process.cpuUsage(before);
    all.push((d.user + d.system) / 1000);
  }
  return all.sort((a, b) => a - b)[Math.floor(all.length / 2)] as number;
}
function row(metric: string, unit: string, oursRaw: number, peerRaw: number | null): Row {
  const ours = +oursRaw.toFixed(3);
  const peer = peerRaw === null ? null : +peerRaw.toFixed(3);
  return { metric, unit, ours, peer, ratio: peer === null ? null : ours / peer };
}

type Cs = Awaited<ReturnType<typeof groupSuite>>;

/** The state as the SDK loads it for an operation: decoded from its stored bytes. */
const loaded = (state: ClientState) => decodeState(encodeState(state), verify);

/**
 * CPU ms of adding one new device, and of removing it again (the remover's commit carries a path),
 * each from a freshly loaded state (`inMemory`: from the same state object every time).
 */
async function addRemove(state: ClientState, cs: Cs, n: number, inMemory = false): Promise<{ add: number; remove: number }> {
  const joiner = device(n + 1);
  const kp = await newKeyPackage(joiner, cs);
  const added = await commit(state, { add: [kp.publicPackage] }, cs);
  const from = (s: ClientState) => () => (inMemory ? s : loaded(s));
  const add = await cpuMs((s) => commit(s, { add: [kp.publicPackage] }, cs), 3, from(state));
  const leaf = groupMembers(added.state).find((m) => m.user === joiner.user)?.leafIndex as number;
  const remove = await cpuMs((s) => commit(s, { remove: [leaf] }, cs), 3, from(added.state));
  return { add, remove };
}

/**
 * Leaves whose commits fill what the measured commits' resolutions reach (RFC 9420 §7.9, tree math
 * Appendix C): for leaf 0 (the committer) and leaf n (added, then removed: removing it blanks its
 * direct path, exposing its siblings' subtrees), the first leaf of the sibling subtree at each
 * level above the leaves, among the n existing leaves.
 */
export function fillers(n: number): number[] {
  const out = new Set<number>();
  for (const t of [0, n])
    for (let j = 1; 1 << (j - 1) < n + 1; j++) {
      const s = ((t >> j) ^ 1) << j;
      if (s > 0 && s < n) out.add(s);
    }
  return [...out].sort((a, b) => a - b);
}

/** The `filled` shape: each member of `members` joins from the Welcome and commits once, in turn; every member still to commit and the committer process each commit. */
async function fill(creator: ClientState, welcome: Uint8Array, members: Map<number, NewKeyPackage>, cs: Cs, log: (l: string) => void): Promise<ClientState> {
  const leaves = [...members.keys()].sort((a, b) => a - b);
  const states: ClientState[] = [];
  for (const leaf of leaves) {
    log(`groups: filled shape: leaf ${leaf} joins`);
    states.push(await joinFromWelcome(welcome, members.get(leaf) as NewKeyPackage, verify, cs));
  }
  let committer = creator;
  for (let i = 0; i < states.length; i++) {
    log(`groups: filled shape: leaf ${leaves[i]} commits its path`);
    const c = await commit(states[i] as ClientState, {}, cs);
    for (let j = i + 1; j < states.length; j++) {
      const r = await processGroupMessage(states[j] as ClientState, c.commit, cs);
      if (r.kind !== 'commit') throw new Error('groups bench: expected a commit');
      states[j] = r.state;
    }
    const r = await processGroupMessage(committer, c.commit, cs);
    if (r.kind !== 'commit') throw new Error('groups bench: expected a commit');
    committer = r.state;
  }
  return committer;
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 8 : 1000;
  const cs = await groupSuite();
  o.log(`groups: ${n} KeyPackages`);
  const creator = device(0);
  let state = await createGroupState(creator, await newKeyPackage(creator, cs), randomBytes(16), 'bench', verify, cs);
  const kps: NewKeyPackage['publicPackage'][] = [];
  const fillLeaves = new Set(fillers(n));
  const fillerPackages = new Map<number, NewKeyPackage>();
  for (let i = 1; i < n; i++) {
    const kp = await newKeyPackage(device(i), cs);
    kps.push(kp.publicPackage);
    if (fillLeaves.has(i)) fillerPackages.set(i, kp);
  }
  o.log('groups: one commit adding every device (as `group create --member ...` does)');
  const created = await commit(state, { add: kps }, cs);
  state = created.state;
  const pt = new Uint8Array(randomBytes(200));
  let sent = await encryptApplication(state, pt, cs);
  const sendMs = await cpuMs(async () => {
    sent = await encryptApplication(sent.state, pt, cs);
  }, 11);
  o.log(`groups: ${n} pairwise sessions`);
  const sessions: Awaited<ReturnType<typeof establish>>[] = [];
  for (let i = 0; i < n; i++) sessions.push(await establish());
  let pairwiseBytes = 0;
  for (const s of sessions) pairwiseBytes += (await s.alice.encrypt('peer', pt)).length;
  const pairwiseMs = await cpuMs(async () => {
    for (const s of sessions) await s.alice.encrypt('peer', pt);
  });
  o.log('groups: commits, blank tree');
  const blank = await addRemove(sent.state, cs, n);
  const filledState = await fill(sent.state, created.welcome as Uint8Array, fillerPackages, cs, o.log);
  o.log('groups: commits, filled copath');
  const filled = await addRemove(filledState, cs, n);
  const filledInMemory = await addRemove(filledState, cs, n, true);
  const unit = 'ms CPU (median of 3)';
  return {
    bench: 'groups',
    peer: `pairwise@${n}`,
    rows: [
      row(`send_${n}_ms`, 'ms CPU (encrypt once, median of 11; pairwise: N encryptions, median of 3)', sendMs, pairwiseMs),
      row(`commit_add_ms_${n}`, `${unit}, blank tree (as the SDK builds groups), state loaded from bytes`, blank.add, null),
      row(`commit_remove_ms_${n}`, `${unit}, blank tree (as the SDK builds groups), state loaded from bytes`, blank.remove, null),
      row(`commit_add_ms_${n}_filled`, `${unit}, committer's copath filled by members' commits, state loaded from bytes`, filled.add, null),
      row(`commit_remove_ms_${n}_filled`, `${unit}, committer's copath filled by members' commits, state loaded from bytes`, filled.remove, null),
      row(`commit_add_ms_${n}_filled_in_memory`, `${unit}, filled, from the state object in memory`, filledInMemory.add, null),
      row(`commit_remove_ms_${n}_filled_in_memory`, `${unit}, filled, from the state object in memory`, filledInMemory.remove, null),
      row(`wire_bytes_per_msg_${n}`, 'bytes', sent.message.length, pairwiseBytes),
    ],
  };
}
