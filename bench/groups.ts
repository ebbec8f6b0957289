// Groups bench (issue 14): one MLS group of N member devices (suite 0x0053, in process) against
// our own pairwise fan-out of the same message to the same N devices (N Double Ratchet sessions),
// in the same run. N = 1000 (the figure), 8 with --quick. Not included: the relay's
// accept (HTTP + storage) on either side; the MLS wire bytes are one PrivateMessage, the
// pairwise ones N ratchet messages.
import { randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { groupSuite } from '../packages/client/src/groups/ciphersuite.js';
import { commit, createGroupState, encryptApplication, groupMembers, newKeyPackage } from '../packages/client/src/groups/group-state.js';
import { establish } from './peers/blindrelay.js';
import type { BenchOptions, BenchResult, Row } from './run.js';

const verify = async () => true;
const device = (i: number) => {
  const { secretKey, publicKey } = ed25519.keygen();
  return { user: `u${i}`, deviceId: 1, signingSeed: secretKey, signingKey: publicKey };
};
const ms = async (f: () => Promise<unknown>) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};
function row(metric: string, unit: string, oursRaw: number, peerRaw: number | null): Row {
  const ours = +oursRaw.toFixed(3);
  const peer = peerRaw === null ? null : +peerRaw.toFixed(3);
  return { metric, unit, ours, peer, ratio: peer === null ? null : ours / peer };
}

export async function run(o: BenchOptions): Promise<BenchResult> {
  const n = o.quick ? 8 : 1000;
  const cs = await groupSuite();
  o.log(`groups: ${n} KeyPackages`);
  const creator = device(0);
  let state = await createGroupState(creator, await newKeyPackage(creator, cs), randomBytes(16), 'bench', verify, cs);
  const kps: Awaited<ReturnType<typeof newKeyPackage>>['publicPackage'][] = [];
  for (let i = 1; i < n; i++) kps.push((await newKeyPackage(device(i), cs)).publicPackage);
  o.log('groups: one commit adding every device');
  state = (await commit(state, { add: kps }, cs)).state;
  // Every leaf's path filled as in a used group: not done (one committer only); see docs/BENCHMARKS.md.
  const pt = new Uint8Array(randomBytes(200));
  let sent = await encryptApplication(state, pt, cs);
  const sendMs = await ms(async () => {
    sent = await encryptApplication(sent.state, pt, cs);
  });
  o.log(`groups: ${n} pairwise sessions`);
  const sessions: Awaited<ReturnType<typeof establish>>[] = [];
  for (let i = 0; i < n; i++) sessions.push(await establish());
  let pairwiseBytes = 0;
  const pairwiseMs = await ms(async () => {
    for (const s of sessions) pairwiseBytes += (await s.alice.encrypt('peer', pt)).length;
  });
  const joiner = device(n + 1);
  const kp = await newKeyPackage(joiner, cs);
  let added = await commit(sent.state, { add: [kp.publicPackage] }, cs);
  const addMs = await ms(async () => {
    added = await commit(sent.state, { add: [kp.publicPackage] }, cs);
  });
  const leaf = groupMembers(added.state).find((m) => m.user === joiner.user)?.leafIndex as number;
  o.log('groups: remove');
  const removeMs = await ms(() => commit(added.state, { remove: [leaf] }, cs));
  return {
    bench: 'groups',
    peer: `pairwise@${n}`,
    rows: [
      row(`send_${n}_ms`, 'ms (encrypt once; pairwise: N encryptions)', sendMs, pairwiseMs),
      row(`commit_add_ms_${n}`, 'ms', addMs, null),
      row(`commit_remove_ms_${n}`, 'ms', removeMs, null),
      row(`wire_bytes_per_msg_${n}`, 'bytes', sent.message.length, pairwiseBytes),
    ],
  };
}
