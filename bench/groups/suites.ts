/**
 * The cipher suite choice for groups (docs/DECISIONS.md): the same group operations under
 * MLS_256_XWING_AES256GCM_SHA512_Ed25519 (0x0053, the one groups use) and the classical
 * MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (0x0001), side by side in one run, in process.
 *   npx tsx bench/groups/suites.ts [members]
 * Prints one JSON object: per suite, median milliseconds of create, add (commit + Welcome into a
 * group of `members` devices), remove, encrypt and decrypt of 1 KiB, and the commit/Welcome sizes.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { suiteByName } from '../../packages/client/src/groups/ciphersuite.js';
import {
  commit,
  createGroupState,
  encryptApplication,
  groupMembers,
  joinFromWelcome,
  newKeyPackage,
  processGroupMessage,
} from '../../packages/client/src/groups/group-state.js';

const members = Number(process.argv[2] ?? 16);
const ROUNDS = 5;
const verify = async () => true;
const device = (i: number) => {
  const { secretKey, publicKey } = ed25519.keygen();
  return { user: `u${i}`, deviceId: 1, signingSeed: secretKey, signingKey: publicKey };
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
async function time<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await f();
  return [performance.now() - t, r];
}

async function run(name: Parameters<typeof suiteByName>[0]) {
  const cs = await suiteByName(name);
  const creator = device(0);
  const [createMs, created] = await time(async () =>
    createGroupState(creator, await newKeyPackage(creator, cs), crypto.getRandomValues(new Uint8Array(16)), 'bench', verify, cs),
  );
  const kps = [];
  for (let i = 1; i < members; i++) kps.push(await newKeyPackage(device(i), cs));
  let state = (await commit(created, { add: kps.map((k) => k.publicPackage) }, cs)).state;
  const add: number[] = [];
  const remove: number[] = [];
  const enc: number[] = [];
  const dec: number[] = [];
  let sizes = { commit: 0, welcome: 0 };
  const joiner = device(members + 1);
  for (let r = 0; r < ROUNDS; r++) {
    const kp = await newKeyPackage(joiner, cs);
    const [a, out] = await time(() => commit(state, { add: [kp.publicPackage] }, cs));
    add.push(a);
    sizes = { commit: out.commit.length, welcome: out.welcome?.length ?? 0 };
    const joined = await joinFromWelcome(out.welcome as Uint8Array, kp, verify, cs);
    const leaf = groupMembers(out.state).find((m) => m.user === joiner.user)?.leafIndex as number;
    const [e, sent] = await time(() => encryptApplication(out.state, new Uint8Array(1024), cs));
    enc.push(e);
    const [d] = await time(() => processGroupMessage(joined, sent.message, cs));
    dec.push(d);
    const [rm, removed] = await time(() => commit(sent.state, { remove: [leaf] }, cs));
    remove.push(rm);
    state = removed.state;
  }
  return {
    suite: name,
    createMs: +createMs.toFixed(2),
    addMs: +median(add).toFixed(2),
    removeMs: +median(remove).toFixed(2),
    encrypt1KiBMs: +median(enc).toFixed(3),
    decrypt1KiBMs: +median(dec).toFixed(3),
    commitBytes: sizes.commit,
    welcomeBytes: sizes.welcome,
  };
}

const pq = await run('MLS_256_XWING_AES256GCM_SHA512_Ed25519');
const classical = await run('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519');
console.log(JSON.stringify({ members, runtime: `node@${process.versions.node}`, pq, classical }, null, 1));
