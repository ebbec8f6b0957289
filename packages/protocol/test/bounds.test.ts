/**
 * Bounds (DESIGN.md convention 7; Double Ratchet rev. 3 §6.4; docs/PROTOCOL.md §8.4, §9):
 * MAX_SKIP per chain, checked before any key is derived; MAX_SKIPPED_KEYS per session with the
 * oldest evicted first; MAX_PLAINTEXT_BYTES; Padmé padding of every plaintext.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Primitives } from '../src/primitives/types.js';
import { countingPrimitives, expectDecryptRejected, forgeRatchetMessage, isDecryptError, minTimeMs, sameBytes, sendMany, skippedCount } from './adversary.js';
import { bundleOf, establish, makeUser, nodePrimitives, type TestUser, webPrimitives } from './helpers.js';
import * as P from './internals.js';

/** Well under what deriving even MAX_SKIP keys costs; generous for a busy 2-core machine. */
const QUICK_MS = 50;

async function rejectedQuickly(p: Primitives, state: P.SessionState, message: Uint8Array, what: string): Promise<Record<string, number>> {
  const counted = countingPrimitives(p);
  await expectDecryptRejected(counted.p, state, message, what);
  const counts = { ...counted.counts };
  const ms = await minTimeMs(3, () => P.decryptMessage(p, state, message).catch(() => undefined));
  expect(ms, `${what}: ${ms.toFixed(2)} ms`).toBeLessThan(QUICK_MS);
  return counts;
}

describe.each([
  ['node', nodePrimitives],
  ['web', webPrimitives],
] as const)('MAX_SKIP (%s primitives)', (_name, p) => {
  let alice: TestUser;
  let bob: TestUser;
  beforeAll(async () => {
    alice = await makeUser(p, 'alice');
    bob = await makeUser(p, 'bob');
  });

  it('a genuine message MAX_SKIP + 1 ahead in the chain is refused before any key is derived; exactly MAX_SKIP ahead decrypts', async () => {
    const s = await establish(p, alice, bob); // Alice has received Bob's n = 0
    const sent = await sendMany(p, s.bob, P.MAX_SKIP + 2, 'b'); // n = 1 … MAX_SKIP + 2
    const tooFar = sent.messages[P.MAX_SKIP + 1] as Uint8Array; // n = MAX_SKIP + 2: MAX_SKIP + 1 keys to skip
    const counts = await rejectedQuickly(p, s.alice, tooFar, 'n = Nr + MAX_SKIP + 1');
    expect(counts.hmacSha256 ?? 0, 'HMAC calls (chain-key steps) for the refused message').toBe(0);

    const exact = sent.messages[P.MAX_SKIP] as Uint8Array; // n = MAX_SKIP + 1: exactly MAX_SKIP keys to skip
    const r = await P.decryptMessage(p, s.alice, exact);
    expect(P.fromUtf8(r.plaintext)).toBe(`b${P.MAX_SKIP}`);
    expect(skippedCount(r.state)).toBe(P.MAX_SKIP);
    // The skipped ones are all there: first, middle, last.
    for (const i of [0, 499, P.MAX_SKIP - 1]) {
      const d = await P.decryptMessage(p, r.state, sent.messages[i] as Uint8Array);
      expect(P.fromUtf8(d.plaintext)).toBe(`b${i}`);
      expect(skippedCount(d.state)).toBe(P.MAX_SKIP - 1);
    }
    // And the message that was too far ahead is now the next one.
    expect(P.fromUtf8((await P.decryptMessage(p, r.state, tooFar)).plaintext)).toBe(`b${P.MAX_SKIP + 1}`);
  });

  it('a genuine message on a new ratchet key whose PN leaves more than MAX_SKIP keys of the old chain is refused; exactly MAX_SKIP decrypts', async () => {
    for (const [skip, ok] of [
      [P.MAX_SKIP + 1, false],
      [P.MAX_SKIP, true],
    ] as const) {
      const s = await establish(p, alice, bob);
      const lost = await sendMany(p, s.bob, skip, 'lost'); // never delivered
      const ping = await P.encryptMessage(p, s.alice, P.utf8('ping'));
      const bobStepped = await P.decryptMessage(p, lost.state, ping.message);
      const next = await P.encryptMessage(p, bobStepped.state, P.utf8('new chain'));
      expect(P.decodeRatchetMessage(next.message).header.pn).toBe(skip + 1);
      if (!ok) {
        const counts = await rejectedQuickly(p, ping.state, next.message, `PN = Nr + ${skip}`);
        expect(counts.hmacSha256 ?? 0).toBe(0);
        expect(counts.x25519 ?? 0, 'no DH step before the bound check').toBe(0);
      } else {
        const r = await P.decryptMessage(p, ping.state, next.message);
        expect(P.fromUtf8(r.plaintext)).toBe('new chain');
        expect(skippedCount(r.state)).toBe(P.MAX_SKIP);
        expect(P.fromUtf8((await P.decryptMessage(p, r.state, lost.messages[skip - 1] as Uint8Array)).plaintext)).toBe(`lost${skip - 1}`);
      }
    }
  });

  it('forged headers with n = 2^32 − 1, or a huge PN on a new ratchet key, are refused quickly without deriving keys', async () => {
    const s = await establish(p, alice, bob);
    const a = s.alice;
    const nr = a.recv?.n as number;
    const newKey = (await P.generateX25519(p)).publicKey;
    const cases: [string, Partial<P.RatchetHeader>, { dh: boolean }][] = [
      ['current chain, n = 2^32 − 1', { n: 0xffffffff }, { dh: false }],
      ['current chain, n = Nr + MAX_SKIP + 1', { n: nr + P.MAX_SKIP + 1 }, { dh: false }],
      ['current chain, n = 2^31', { n: 2 ** 31 }, { dh: false }],
      ['new ratchet key, PN = 2^32 − 1', { ratchetKey: newKey, pn: 0xffffffff, n: 0 }, { dh: false }],
      ['new ratchet key, PN = Nr + MAX_SKIP + 1', { ratchetKey: newKey, pn: nr + P.MAX_SKIP + 1, n: 0 }, { dh: false }],
      ['new ratchet key, n = 2^32 − 1', { ratchetKey: newKey, pn: nr, n: 0xffffffff }, { dh: true }],
      ['new ratchet key, n = MAX_SKIP + 1', { ratchetKey: newKey, pn: nr, n: P.MAX_SKIP + 1 }, { dh: true }],
    ];
    for (const [what, header, { dh }] of cases) {
      const forged = await forgeRatchetMessage(p, s.bob, header);
      const counts = await rejectedQuickly(p, a, forged, what);
      expect(counts.hmacSha256 ?? 0, `${what}: HMAC calls`).toBe(0);
      if (!dh) expect(counts.x25519 ?? 0, `${what}: X25519 calls`).toBe(0);
    }
    // The session is unharmed.
    const m = await P.encryptMessage(p, s.bob, P.utf8('still fine'));
    expect(P.fromUtf8((await P.decryptMessage(p, a, m.message)).plaintext)).toBe('still fine');
  });
});

describe('MAX_SKIPPED_KEYS (node primitives)', () => {
  const p = nodePrimitives;

  it('over several chains the store never exceeds MAX_SKIPPED_KEYS, and the oldest keys are evicted first', async () => {
    const alice = await makeUser(p, 'alice');
    const bob = await makeUser(p, 'bob');
    const s = await establish(p, alice, bob);
    let a = s.alice;
    let b = s.bob;
    const rounds: Uint8Array[][] = []; // per round, the held-back messages in chain order
    /** Bob sends `skip + 1` messages on a new chain (after the first round); Alice receives only the last. */
    async function round(skip: number): Promise<void> {
      if (rounds.length > 0) {
        const ping = await P.encryptMessage(p, a, P.utf8('ping'));
        a = ping.state;
        b = (await P.decryptMessage(p, b, ping.message)).state;
      }
      const sent = await sendMany(p, b, skip + 1, `r${rounds.length}.`);
      b = sent.state;
      a = (await P.decryptMessage(p, a, sent.messages[skip] as Uint8Array)).state;
      a = P.deserializeSession(P.serializeSession(a));
      rounds.push(sent.messages.slice(0, skip));
    }
    const text = (r: number, i: number) => `r${r}.${i}`;
    const expectKept = async (r: number, i: number) => {
      const d = await P.decryptMessage(p, a, rounds[r]?.[i] as Uint8Array);
      expect(P.fromUtf8(d.plaintext)).toBe(text(r, i));
      return d.state;
    };

    await round(1000);
    expect(skippedCount(a)).toBe(1000);
    await round(1000);
    expect(skippedCount(a)).toBe(2000);
    await round(500);
    // 2500 skipped: the 500 oldest (round 0, messages 0 … 499) are gone, the rest is kept.
    expect(skippedCount(a)).toBe(P.MAX_SKIPPED_KEYS);
    await expectDecryptRejected(p, a, rounds[0]?.[499] as Uint8Array, 'newest evicted key');
    await expectDecryptRejected(p, a, rounds[0]?.[0] as Uint8Array, 'oldest evicted key');
    a = await expectKept(0, 500); // oldest kept key; frees one slot
    expect(skippedCount(a)).toBe(P.MAX_SKIPPED_KEYS - 1);
    await round(1000);
    // 1999 + 1000: the 999 oldest go (round 0 messages 501 … 999 and round 1 messages 0 … 499).
    expect(skippedCount(a)).toBe(P.MAX_SKIPPED_KEYS);
    for (const [r, i] of [
      [0, 501],
      [0, 999],
      [1, 0],
      [1, 499],
    ] as const) {
      await expectDecryptRejected(p, a, rounds[r]?.[i] as Uint8Array, `evicted r${r}.${i}`);
    }
    for (const [r, i] of [
      [1, 500],
      [1, 999],
      [2, 0],
      [2, 499],
      [3, 0],
      [3, 999],
    ] as const) {
      await expectKept(r, i);
    }
  });
});

describe('MAX_PLAINTEXT_BYTES', () => {
  it.each([
    ['node', nodePrimitives],
    ['web', webPrimitives],
  ] as const)('%s: one byte over is refused with InvalidArgumentError; exactly the maximum round-trips', async (_name, p) => {
    const alice = await makeUser(p, 'alice', 1);
    const bob = await makeUser(p, 'bob', 1);
    const s = await establish(p, alice, bob);
    const before = P.serializeSession(s.bob);
    let error: unknown;
    try {
      await P.encryptMessage(p, s.bob, new Uint8Array(P.MAX_PLAINTEXT_BYTES + 1));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(P.InvalidArgumentError);
    expect((error as P.BlindrelayError).code).toBe('ERR_INVALID_ARGUMENT');
    expect(sameBytes(P.serializeSession(s.bob), before)).toBe(true);

    const big = new Uint8Array(P.MAX_PLAINTEXT_BYTES).fill(0x80);
    const m = await P.encryptMessage(p, s.bob, big);
    expect(m.message.length).toBe(P.RATCHET_HEADER_BYTES + P.MAX_SEALED_BYTES);
    expect(sameBytes((await P.decryptMessage(p, s.alice, m.message)).plaintext, big)).toBe(true);
    // A body one byte longer than any valid one is refused before decryption.
    await expectDecryptRejected(p, s.alice, P.concat(m.message, Uint8Array.of(0)), 'sealed over MAX_SEALED_BYTES');
  });

  it('a sending chain at 2^32 − 1 refuses to encrypt rather than wrap the counter', async () => {
    const p = nodePrimitives;
    const s = await establish(p, await makeUser(p, 'alice', 1), await makeUser(p, 'bob', 1));
    const send = s.bob.send as P.Chain;
    const last = await P.encryptMessage(p, { ...s.bob, send: { ...send, n: 0xfffffffe } }, P.utf8('last'));
    expect(P.decodeRatchetMessage(last.message).header.n).toBe(0xfffffffe);
    await expect(P.encryptMessage(p, last.state, P.utf8('one more'))).rejects.toBeInstanceOf(P.InvalidArgumentError);
  });
});

/** Padmé as published (Nikitin et al., PETS 2019, Algorithm 1), written independently of src/padding.ts. */
function padmeReference(L: number): number {
  if (L < 2) return L;
  const E = Math.floor(Math.log2(L));
  const S = Math.floor(Math.log2(E)) + 1;
  const lastBits = E - S;
  const bitMask = 2 ** lastBits - 1;
  return Math.floor((L + bitMask) / (bitMask + 1)) * (bitMask + 1);
}

describe('Padmé padding', () => {
  const p = nodePrimitives;
  let s: Awaited<ReturnType<typeof establish>>;
  beforeAll(async () => {
    s = await establish(p, await makeUser(p, 'alice', 1), await makeUser(p, 'bob', 1));
  });
  const wireSize = async (length: number) => (await P.encryptMessage(p, s.bob, new Uint8Array(length).fill(7))).message.length;

  it('a 100-byte message is 162 bytes on the wire (42 header + Padmé(101) = 104 + 16 tag)', async () => {
    expect(P.padme(101)).toBe(104);
    expect(await wireSize(100)).toBe(162);
    // The initiator's prekey message carries the same body after its prefix.
    const bob = await makeUser(p, 'bob', 1);
    const alice = await makeUser(p, 'alice', 1);
    const a = await P.initiateSession(p, { identity: alice.device.identity, certificate: alice.certificate }, bundleOf(bob));
    const pk = await P.encryptMessage(p, a, new Uint8Array(100));
    expect(pk.message.length - (a.pendingPreKey as Uint8Array).length).toBe(162);
  });

  it('every length within one Padmé bucket gives the same ciphertext size; the neighbours do not', async () => {
    const sizes = await Promise.all([95, 96, 97, 100, 103, 104].map(wireSize));
    expect(sizes).toEqual([154, 162, 162, 162, 162, 170]);
    for (const [lo, hi] of [
      [1000, 1023],
      [4000, 4031],
      [65000, 65023],
    ] as const) {
      const inside = new Set<number>();
      for (let L = lo; L <= hi; L += 7) inside.add(await wireSize(L));
      inside.add(await wireSize(hi));
      expect(inside.size, `${lo}…${hi}`).toBe(1);
    }
  });

  it('matches the published algorithm and stays within 12% overhead for every length up to MAX_PLAINTEXT_BYTES + 1', () => {
    let buckets = 0;
    let previous = -1;
    for (let L = 0; L <= P.MAX_PLAINTEXT_BYTES + 1; L++) {
      const padded = P.padme(L);
      if (padded !== padmeReference(L)) throw new Error(`padme(${L}) = ${padded}, published algorithm gives ${padmeReference(L)}`);
      if (padded < L || (L > 0 && (padded - L) / L > 0.12)) throw new Error(`padme(${L}) = ${padded}`);
      if (padded !== previous) buckets++;
      previous = padded;
    }
    // Few distinct sizes: the point of Padmé (O(log log L) bits of the length leak).
    expect(buckets).toBeLessThan(400); // 302 for Padmé; a linear scheme would have thousands
  });

  it('the wire size of a message is 42 + Padmé(L + 1) + 16 for random lengths (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 70000 }), async (L) => {
        expect(await wireSize(L)).toBe(42 + padmeReference(L + 1) + 16);
      }),
      { numRuns: 60 },
    );
  });

  it('pad/unpad round-trip any plaintext; paddings that are not Padmé-shaped are refused', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (x) => {
        const padded = P.pad(x);
        expect(padded.length).toBe(P.padme(x.length + 1));
        expect(sameBytes(P.unpad(padded) as Uint8Array, x)).toBe(true);
        // One more zero byte: the length no longer is Padmé of the marker's position.
        expect(P.unpad(P.concat(padded, Uint8Array.of(0)))).toBeNull();
      }),
      { numRuns: 300 },
    );
    expect(P.unpad(new Uint8Array(8))).toBeNull(); // no 0x80 marker
    expect(P.unpad(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 9))).toBeNull(); // last non-zero byte is not 0x80
    expect(P.unpad(P.concat(new Uint8Array(9), Uint8Array.of(0x80), new Uint8Array(7)))).toBeNull(); // 17 bytes: not a Padmé size for 10
  });
});

describe('decrypt failures are uniform', () => {
  it('all refusals above carry the same code and message', async () => {
    const p = nodePrimitives;
    const s = await establish(p, await makeUser(p, 'alice', 1), await makeUser(p, 'bob', 1));
    const errors: unknown[] = [];
    for (const bytes of [
      new Uint8Array(0),
      Uint8Array.of(1, 1),
      await forgeRatchetMessage(p, s.bob, { n: 0xffffffff }),
      await forgeRatchetMessage(p, s.bob, {}),
    ]) {
      try {
        await P.decryptMessage(p, s.alice, bytes);
      } catch (e) {
        errors.push(e);
      }
    }
    expect(errors).toHaveLength(4);
    for (const e of errors) expect(isDecryptError(e)).toBe(true);
  });
});
