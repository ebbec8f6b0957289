/**
 * Review finding L6, security-2026-12.md: `wipe()` was ineffective on Node. The Node primitives
 * kept an LRU of imported KeyObjects keyed by `curve[0] + latin1(privateKey)`: the cache's key
 * WAS the raw private key, as an immutable JavaScript string that no wipe can clear, alive until
 * evicted and collected. PQXDH's ephemeral key (which §3.3 says Alice deletes) went through it
 * like any other key, so it stayed in memory (a core dump or a memory capture of a long-running
 * `listen` process found it) after pqxdh.ts had "wiped" it.
 *
 * The attack, against the real primitives and protocol functions: use private keys the way the
 * protocol does, wipe them, and look for their bytes among the cache's keys; run a PQXDH initiation
 * and look for its ephemeral key in the cache.
 *
 * What stops it now (packages/protocol/src/primitives/node.ts): cached private keys are found by an
 * HMAC-SHA-256 of the key under a random per-process key (never the key itself); `wipe()` of the
 * array a key was imported from drops the cache entry (bytes.ts `onWipe`); PQXDH's ephemeral key
 * goes through `x25519OneShot`, imported once for its agreements and never cached.
 */
import { describe, expect, it } from 'vitest';
import { createNodePrimitives, keyCacheInspection } from '../../packages/protocol/src/primitives/node.js';
import * as P from '../../packages/protocol/test/internals.js';

/** Every spelling of `key` a cache key string could hold. */
function spellings(key: Uint8Array): string[] {
  const b = Buffer.from(key);
  return [b.toString('latin1'), b.toString('hex'), b.toString('base64'), b.toString('base64url'), b.toString('binary'), b.toString('utf16le')];
}

function leaks(ids: readonly string[], key: Uint8Array): boolean {
  // Any 16-byte window of the key, in any spelling, inside any cache key.
  for (const spelling of spellings(key)) {
    const window = spelling.slice(0, Math.max(8, Math.floor(spelling.length / 2)));
    if (ids.some((id) => id.includes(window))) return true;
  }
  return false;
}

describe('L6: private keys in the Node primitives cache', () => {
  it("the cache's keys do not contain the private keys it holds, and wipe() drops them", async () => {
    const p = createNodePrimitives();
    const keys = [p.randomBytes(32), p.randomBytes(32), p.randomBytes(32)];
    const peer = await p.x25519PublicKey(p.randomBytes(32));
    const seed = p.randomBytes(32);
    for (const k of keys) await P.dh(p, k, peer); // imported and cached as the ratchet does
    await p.ed25519Sign(seed, P.utf8('a device signature'));
    const ids = keyCacheInspection.privateIds(p);
    expect(ids.length).toBeGreaterThanOrEqual(4);
    for (const k of [...keys, seed]) {
      expect(keyCacheInspection.hasPrivate(p, 'X25519', k) || keyCacheInspection.hasPrivate(p, 'Ed25519', k)).toBe(true);
      expect(leaks(ids, k)).toBe(false);
    }
    // wipe() of the very array drops the entry (the copy made to check is looked up by its bytes).
    const [first, second] = keys as [Uint8Array, Uint8Array];
    const copy = first.slice();
    P.wipe(first);
    expect(first).toEqual(new Uint8Array(32));
    expect(keyCacheInspection.hasPrivate(p, 'X25519', copy)).toBe(false);
    expect(keyCacheInspection.hasPrivate(p, 'X25519', second)).toBe(true);
    P.wipe(seed);
    expect(keyCacheInspection.privateIds(p)).toHaveLength(ids.length - 2);
    // Keys still in use work as before, and a wiped one is simply imported again if ever needed.
    expect(await P.dh(p, copy, peer)).toEqual(await createNodePrimitives().x25519(copy, peer));
  });

  it("PQXDH's ephemeral key never enters the cache, while the identity key may", async () => {
    // The CSPRNG's first 32 bytes of an initiation are the ephemeral private key (pqxdh.ts).
    const drawn: Uint8Array[] = [];
    const base = createNodePrimitives();
    const p = createNodePrimitives({
      randomBytes: (n) => {
        const out = base.randomBytes(n);
        drawn.push(out.slice());
        return out;
      },
    });
    const alice = await makeParty(p, 'alice');
    const bob = await makeParty(p, 'bob');
    drawn.length = 0;
    const state = await P.initiateSession(p, { identity: alice.device.identity, certificate: alice.certificate }, bob.bundle);
    const ek = drawn[0] as Uint8Array;
    expect(await p.x25519PublicKey(base.randomBytes(32))).toHaveLength(32); // the cache is in use
    expect(P.toHex(await createNodePrimitives().x25519PublicKey(ek))).toBe(P.toHex(state.baseKey)); // it is the EK
    expect(keyCacheInspection.hasPrivate(p, 'X25519', ek)).toBe(false);
    expect(leaks(keyCacheInspection.privateIds(p), ek)).toBe(false);
    expect(keyCacheInspection.hasPrivate(p, 'X25519', alice.device.identity.privateKey)).toBe(true);
    // The session works: the EK's agreements were made.
    const m = await P.encryptMessage(p, state, P.utf8('first'));
    const accepted = await P.acceptPreKeyMessage(
      p,
      { identity: bob.device.identity, certificate: bob.certificate, preKeys: bob.lookup },
      { user: 'alice', masterKey: alice.master.publicKey },
      m.message,
    );
    expect(P.fromUtf8(accepted.plaintext)).toBe('first');
  });

  it('x25519OneShot gives the same agreements as the cached path and caches nothing', async () => {
    const p = createNodePrimitives();
    const k = p.randomBytes(32);
    const peers = [await p.x25519PublicKey(p.randomBytes(32)), await p.x25519PublicKey(p.randomBytes(32))];
    const before = keyCacheInspection.privateIds(p).length;
    const one = await p.x25519OneShot(k, peers);
    expect(keyCacheInspection.privateIds(p)).toHaveLength(before);
    const reference = createNodePrimitives();
    expect(one.publicKey).toEqual(await reference.x25519PublicKey(k));
    expect(one.shared).toEqual([await reference.x25519(k, peers[0] as Uint8Array), await reference.x25519(k, peers[1] as Uint8Array)]);
  });
});

async function makeParty(p: P.Primitives, user: string) {
  const master = await P.generateMasterKey(p);
  const device = await P.generateDeviceKeys(p);
  const certificate = await P.issueDeviceCertificate(p, user, master, device);
  const spk = await P.generateSignedPreKey(p, user, device, 1);
  const pq = await P.generatePqPreKey(p, user, device, 1, true);
  const lookup: P.PreKeyLookup = {
    signedPreKey: (id) => (id === spk.id ? spk : undefined),
    oneTimePreKey: () => undefined,
    pqPreKey: (id) => (id === pq.id ? pq : undefined),
  };
  return { master, device, certificate, bundle: P.bundleFor(user, device, spk, pq), lookup };
}
