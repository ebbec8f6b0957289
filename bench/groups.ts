// Groups bench (issue 14): one MLS group of N member devices (suite 0x0053, in process) against
// our own pairwise fan-out of the same message to the same N devices (N Double Ratchet sessions),
// in the same run. N = 1000 (the figure), 8 with --quick. Not included: the relay's
// accept (HTTP + storage) on either side; the MLS wire bytes are one PrivateMessage, the
// pairwise ones N ratchet messages.
//
// Sends and commits are measured in CPU time of this process (process.cpuUsage: the issue's "client
// CPU"), median of 3 (commits: of 5; states are immutable values: the same commit is made again from one
// state). The group is built as the SDK builds it (groups.ts, docs/PROTOCOL.md §22.6b): the creator
// adds every device in one commit (`group create --member ...`; an add-only commit carries no path,
// RFC 9420 §12.4, so every parent node is blank), then every member that joined from the Welcome
// makes its self-update (an empty commit with an UpdatePath) in turn, each applied by the creator,
// who then makes the measured commits. After the N-1 self-updates every parent node holds a key
// and no leaf is unmerged, so a path costs O(log N) HPKE encryptions (§7.9 resolution). The rows:
// - `commit_add_ms_N` / `commit_remove_ms_N` (headline): that tree, the creator adding one new
//   device, and removing it again (the remove carries a path), each from a state decoded from its
//   bytes (decodeState, outside the timer) as the SDK does for every operation, so nothing ts-mls
//   keeps on node objects (the patched tree-hash memo, docs/DECISIONS.md) carries over;
//   `_in_memory`: from the state object the previous operation left, as a long-running client.
// - `_blank_tree`: the same commits right after the one add-everyone commit, before any
//   self-update (what the SDK built before §22.6b): the remove's path encrypts to every leaf under
//   the committer's copath (~N X-Wing encapsulations).
// - `self_update_ms_N_first` / `_median`: the joiners' own self-update commits (one run each):
//   the first is made in the blank tree (the worst case, ~N encryptions); the median over all N-1
//   in the bench's order. The order (bit-reversed leaf index: the top of the tree is filled first)
//   decides how much blank tree each one meets; the end state does not depend on it.
//   `process_update_ms_N_median`: the creator applying one of them (every member applies every
//   self-update: N-1 of them after a group of N is created at once).
// How the joiners' commits are made: member i's commit is made from the creator's current state
// with member i's leaf index, leaf HPKE private key and signing key in place of the creator's
// (`memberView`). That is what member i itself holds at that epoch except the private keys of
// its direct path, which a commit with a path replaces without reading (createCommit: new path
// secrets from fresh randomness, RFC 9420 §7.4, encrypted to the copath's public keys). Member i
// joining from the Welcome and applying every earlier self-update itself would be O(N²) commit
// applications (~10⁶ at N = 1000). The creator applies each commit as any member does
// (processGroupMessage: signatures, parent hashes, its path secret decrypted), so every commit is
// a valid one of member i.
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
/** Runs per commit row: a commit at 1,000 members is ~50–150 ms, and one GC pause moves a sample by tens of ms. */
const COMMIT_RUNS = 5;

async function addRemove(state: ClientState, cs: Cs, n: number, inMemory = false): Promise<{ add: number; remove: number }> {
  const joiner = device(n + 1);
  const kp = await newKeyPackage(joiner, cs);
  const added = await commit(state, { add: [kp.publicPackage] }, cs);
  const from = (s: ClientState) => () => (inMemory ? s : loaded(s));
  const add = await cpuMs((s) => commit(s, { add: [kp.publicPackage] }, cs), COMMIT_RUNS, from(state));
  const leaf = groupMembers(added.state).find((m) => m.user === joiner.user)?.leafIndex as number;
  const remove = await cpuMs((s) => commit(s, { remove: [leaf] }, cs), COMMIT_RUNS, from(added.state));
  return { add, remove };
}

/**
 * The state member `leaf` holds at the creator's current epoch, for making its commit (see the
 * header): the group's public state and epoch secrets, member `leaf`'s own leaf key and signing key.
 */
function memberView(state: ClientState, leaf: number, kp: NewKeyPackage): ClientState {
  return {
    ...state,
    privatePath: { leafIndex: leaf, privateKeys: { [leaf * 2]: kp.privatePackage.hpkePrivateKey } },
    signaturePrivateKey: kp.privatePackage.signaturePrivateKey,
  };
}

/** Leaves 1..n-1 in bit-reversed order of their index (the top of the tree is filled first). */
export function updateOrder(n: number): number[] {
  const bits = Math.max(1, Math.ceil(Math.log2(n)));
  const rev = (i: number) => {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    return r;
  };
  return Array.from({ length: n - 1 }, (_, i) => i + 1).sort((a, b) => rev(a) - rev(b));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Every joiner's self-update in turn (updateOrder), each applied by the creator; CPU ms of each commit and of each application. */
async function selfUpdates(
  creator: ClientState,
  members: Map<number, NewKeyPackage>,
  cs: Cs,
  log: (l: string) => void,
): Promise<{ state: ClientState; make: number[]; apply: number[] }> {
  let state = creator;
  const make: number[] = [];
  const apply: number[] = [];
  const order = updateOrder(members.size + 1);
  for (const [k, leaf] of order.entries()) {
    if (k % 100 === 0) log(`groups: self-updates ${k}/${order.length}`);
    const view = memberView(state, leaf, members.get(leaf) as NewKeyPackage);
    let c: Awaited<ReturnType<typeof commit>> | undefined;
    make.push(
      await cpuMs(async () => {
        c = await commit(view, {}, cs);
      }, 1),
    );
    let r: Awaited<ReturnType<typeof processGroupMessage>> | undefined;
    apply.push(
      await cpuMs(async () => {
        r = await processGroupMessage(state, (c as NonNullable<typeof c>).commit, cs);
      }, 1),
    );
    if (r?.kind !== 'commit') throw new Error('groups bench: expected a commit');
    state = r.state;
  }
  return { state, make, apply };
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 8 : 1000;
  const cs = await groupSuite();
  o.log(`groups: ${n} KeyPackages`);
  const creator = device(0);
  let state = await createGroupState(creator, await newKeyPackage(creator, cs), randomBytes(16), 'bench', verify, cs);
  const packages = new Map<number, NewKeyPackage>();
  for (let i = 1; i < n; i++) packages.set(i, await newKeyPackage(device(i), cs));
  o.log('groups: one commit adding every device (as `group create --member ...` does)');
  const created = await commit(state, { add: [...packages.values()].map((k) => k.publicPackage) }, cs);
  state = created.state;
  // memberView needs member i at leaf i (the add commit fills the leaves in order).
  const atLeaf = new Map(groupMembers(state).map((m) => [m.leafIndex, m.user]));
  for (const leaf of packages.keys()) if (atLeaf.get(leaf) !== `u${leaf}`) throw new Error('groups bench: unexpected leaf order');
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
  const updated = await selfUpdates(sent.state, packages, cs, o.log);
  const parents = updated.state.ratchetTree.filter((_, i) => i % 2 === 1);
  o.log(`groups: after the self-updates: ${parents.filter((x) => x === undefined).length} of ${parents.length} parent nodes blank`);
  o.log('groups: commits, after the self-updates');
  const sdk = await addRemove(updated.state, cs, n);
  const inMemory = await addRemove(updated.state, cs, n, true);
  const unit = `ms CPU (median of ${COMMIT_RUNS})`;
  return {
    bench: 'groups',
    peer: `pairwise@${n}`,
    rows: [
      row(`send_${n}_ms`, 'ms CPU (encrypt once, median of 11; pairwise: N encryptions, median of 3)', sendMs, pairwiseMs),
      row(`commit_add_ms_${n}`, `${unit}, members joined then self-updated (as the SDK builds groups), state loaded from bytes`, sdk.add, null),
      row(`commit_remove_ms_${n}`, `${unit}, members joined then self-updated (as the SDK builds groups), state loaded from bytes`, sdk.remove, null),
      row(`commit_add_ms_${n}_in_memory`, `${unit}, the same, from the state object in memory`, inMemory.add, null),
      row(`commit_remove_ms_${n}_in_memory`, `${unit}, the same, from the state object in memory`, inMemory.remove, null),
      row(`commit_add_ms_${n}_blank_tree`, `${unit}, before any self-update (every parent blank), state loaded from bytes`, blank.add, null),
      row(`commit_remove_ms_${n}_blank_tree`, `${unit}, before any self-update (every parent blank), state loaded from bytes`, blank.remove, null),
      row(`self_update_ms_${n}_first`, "ms CPU, the first joiner's self-update (blank tree), one run", updated.make[0] as number, null),
      row(
        `self_update_ms_${n}_median`,
        `ms CPU, median of the ${n - 1} joiners' self-updates (bit-reversed leaf order), one run each`,
        median(updated.make),
        null,
      ),
      row(`process_update_ms_${n}_median`, `ms CPU, median of the creator applying each of the ${n - 1} self-updates`, median(updated.apply), null),
      row(`wire_bytes_per_msg_${n}`, 'bytes', sent.message.length, pairwiseBytes),
    ],
  };
}
