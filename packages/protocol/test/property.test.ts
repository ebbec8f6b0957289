/**
 * Model-based property tests of a two-party session (Double Ratchet rev. 3 §3 with the §6.4 bounds).
 *
 * fast-check generates a schedule: Alice or Bob sends (one message or a burst), a pending message is
 * delivered (in any order: reordering), dropped (loss), tampered with, or an already delivered one
 * is delivered again (duplicate); garbage arrives; a party persists its state through
 * serializeSession/deserializeSession. The model is simple: every message that is not dropped
 * decrypts exactly once, to its plaintext; everything else fails with the one DecryptError and
 * leaves the receiver's serialised state byte for byte as it was.
 *
 * Bursts are capped so no party sends more than MAX_SKIP messages in a run: every reorder window
 * stays within MAX_SKIP per chain and MAX_SKIPPED_KEYS per session. Eviction has its own property.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Primitives } from '../src/primitives/types.js';
import { flipBit, isDecryptError, plaintextFor, preKeyMessageLayout, sameBytes, sendMany, skippedCount, u32At, withU32 } from './adversary.js';
import { bundleOf, establish, lookupOf, makeUser, nodePrimitives, type TestUser, webPrimitives } from './helpers.js';
import * as P from './internals.js';

type Party = 'A' | 'B';
const other = (x: Party): Party => (x === 'A' ? 'B' : 'A');

type Op =
  | { kind: 'send'; from: Party; count: number; size: number }
  | { kind: 'deliver'; pick: number; viaAccept: boolean }
  | { kind: 'duplicate'; pick: number; viaAccept: boolean }
  | { kind: 'drop'; pick: number }
  | { kind: 'tamper'; pick: number; bit: number }
  | { kind: 'garbage'; to: Party; bytes: Uint8Array }
  | { kind: 'persist'; who: Party };

const party = fc.constantFrom<Party>('A', 'B');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('send' as const),
      from: party,
      count: fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 2, max: 80 }) }),
      size: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 700 })),
    }),
  },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('deliver' as const), pick: fc.nat(), viaAccept: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), pick: fc.nat(), viaAccept: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tamper' as const), pick: fc.nat(), bit: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage' as const), to: party, bytes: fc.uint8Array({ maxLength: 200 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('persist' as const), who: party }) },
);

interface Sent {
  readonly id: number;
  readonly from: Party;
  readonly bytes: Uint8Array;
  readonly plaintext: Uint8Array;
  status: 'pending' | 'delivered' | 'dropped';
}

/** Totals across all runs, to prove the generator reaches every path (a property that never reorders proves nothing). */
interface Stats {
  delivered: number;
  outOfOrder: number;
  fromSkippedStore: number;
  duplicates: number;
  dropped: number;
  tampered: number;
  garbage: number;
  persisted: number;
  preKeyViaAccept: number;
  preKeyViaDecrypt: number;
}
const newStats = (): Stats => ({
  delivered: 0,
  outOfOrder: 0,
  fromSkippedStore: 0,
  duplicates: 0,
  dropped: 0,
  tampered: 0,
  garbage: 0,
  persisted: 0,
  preKeyViaAccept: 0,
  preKeyViaDecrypt: 0,
});

/** Most messages one party sends in a run: keeps every skip within MAX_SKIP and the store within MAX_SKIPPED_KEYS. */
const MAX_SENT_PER_PARTY = Math.min(P.MAX_SKIP, P.MAX_SKIPPED_KEYS) - 100;

class Conversation {
  readonly sent: Sent[] = [];
  readonly states: { A: P.SessionState; B: P.SessionState | undefined };
  private readonly sentBy = { A: 0, B: 0 };
  private aliceHeardBob = false;
  private nextId = 0;

  constructor(
    private readonly p: Primitives,
    private readonly alice: TestUser,
    private readonly bob: TestUser,
    initiator: P.SessionState,
    private readonly stats: Stats,
  ) {
    this.states = { A: initiator, B: undefined };
  }

  private get bobLocal() {
    return { identity: this.bob.device.identity, certificate: this.bob.certificate, preKeys: lookupOf(this.bob) };
  }
  private get aliceTrust() {
    return { user: this.alice.user, masterKey: this.alice.master.publicKey };
  }

  pending(): Sent[] {
    return this.sent.filter((m) => m.status === 'pending');
  }

  async send(from: Party, count: number, size: number): Promise<void> {
    const state = this.states[from];
    if (!state) return; // Bob cannot speak before the first message reaches him
    let s = state;
    const n = Math.min(count, MAX_SENT_PER_PARTY - this.sentBy[from]);
    for (let i = 0; i < n; i++) {
      const id = this.nextId++;
      const plaintext = plaintextFor(id, size);
      const r = await P.encryptMessage(this.p, s, plaintext);
      s = r.state;
      // Alice sends PreKeyMessages until she has decrypted something from Bob; then plain ratchet messages.
      const expectedType = from === 'A' && !this.aliceHeardBob ? P.MESSAGE_TYPE_PREKEY : P.MESSAGE_TYPE_RATCHET;
      expect(P.messageType(r.message), `type of message ${id} from ${from}`).toBe(expectedType);
      this.sent.push({ id, from, bytes: r.message, plaintext, status: 'pending' });
    }
    this.sentBy[from] += n;
    this.states[from] = s;
  }

  /** Receive as a client would: a PreKeyMessage through acceptPreKeyMessage (or decryptMessage for a known session). */
  private async receive(to: Party, bytes: Uint8Array, viaAccept: boolean): Promise<{ state: P.SessionState; plaintext: Uint8Array; newSession?: boolean }> {
    const state = this.states[to];
    if (to === 'A') return P.decryptMessage(this.p, state as P.SessionState, bytes);
    let isPreKey = false;
    try {
      isPreKey = P.messageType(bytes) === P.MESSAGE_TYPE_PREKEY;
    } catch {
      // malformed: let the session code reject it
    }
    if (!state || (isPreKey && viaAccept)) {
      const r = await P.acceptPreKeyMessage(this.p, this.bobLocal, this.aliceTrust, bytes, state);
      return { state: r.state, plaintext: r.plaintext, newSession: r.newSession };
    }
    return P.decryptMessage(this.p, state, bytes);
  }

  async deliver(m: Sent, viaAccept: boolean): Promise<void> {
    const to = other(m.from);
    const before = this.states[to];
    const skippedBefore = before ? before.skipped.size : 0;
    if (this.sent.some((x) => x.from === m.from && x.id > m.id && x.status === 'delivered')) this.stats.outOfOrder++;
    const isPreKey = P.messageType(m.bytes) === P.MESSAGE_TYPE_PREKEY;
    let r: Awaited<ReturnType<Conversation['receive']>>;
    try {
      r = await this.receive(to, m.bytes, viaAccept);
    } catch (e) {
      throw new Error(`message ${m.id} from ${m.from} should decrypt but failed: ${String(e)}`);
    }
    expect(sameBytes(r.plaintext, m.plaintext), `plaintext of message ${m.id}`).toBe(true);
    if (r.newSession !== undefined) expect(r.newSession, 'newSession only for the first message Bob receives').toBe(before === undefined);
    if (isPreKey && before) viaAccept ? this.stats.preKeyViaAccept++ : this.stats.preKeyViaDecrypt++;
    if (before && r.state.skipped.size < skippedBefore) this.stats.fromSkippedStore++;
    m.status = 'delivered';
    if (to === 'A') this.aliceHeardBob = true;
    this.states[to] = r.state;
    this.stats.delivered++;
  }

  /** A message that must be refused: DecryptError, and the receiver's state stays byte-identical. */
  async expectRejected(to: Party, bytes: Uint8Array, viaAccept: boolean, what: string): Promise<void> {
    const state = this.states[to];
    const before = state && P.serializeSession(state);
    let error: unknown;
    try {
      await this.receive(to, bytes, viaAccept);
    } catch (e) {
      error = e;
    }
    if (error === undefined) throw new Error(`${what} was accepted`);
    if (!isDecryptError(error)) throw new Error(`${what}: expected DecryptError, got ${String(error)}`);
    if (state && before && !sameBytes(P.serializeSession(state), before)) throw new Error(`${what}: failed decrypt changed the state`);
  }

  async run(op: Op): Promise<void> {
    switch (op.kind) {
      case 'send':
        return this.send(op.from, op.count, op.size);
      case 'deliver': {
        const pending = this.pending();
        const m = pending[op.pick % Math.max(1, pending.length)];
        if (m) await this.deliver(m, op.viaAccept);
        return;
      }
      case 'duplicate': {
        const done = this.sent.filter((x) => x.status === 'delivered');
        const m = done[op.pick % Math.max(1, done.length)];
        if (!m) return;
        await this.expectRejected(other(m.from), m.bytes, op.viaAccept, `duplicate of message ${m.id}`);
        this.stats.duplicates++;
        return;
      }
      case 'drop': {
        const pending = this.pending();
        const m = pending[op.pick % Math.max(1, pending.length)];
        if (!m) return;
        m.status = 'dropped';
        this.stats.dropped++;
        return;
      }
      case 'tamper': {
        const pending = this.pending();
        const m = pending[op.pick % Math.max(1, pending.length)];
        if (!m) return;
        const bit = this.tamperableBit(m, op.bit);
        await this.expectRejected(other(m.from), flipBit(m.bytes, bit), true, `message ${m.id} with bit ${bit} flipped`);
        this.stats.tampered++;
        return; // the genuine message stays pending and must still decrypt later
      }
      case 'garbage': {
        if (op.to === 'B' && !this.states.B) return;
        // Garbage that happens to equal a genuine message is not garbage.
        if (this.sent.some((m) => sameBytes(m.bytes, op.bytes))) return;
        await this.expectRejected(op.to, op.bytes, false, 'garbage');
        this.stats.garbage++;
        return;
      }
      case 'persist': {
        const s = this.states[op.who];
        if (!s) return;
        const bytes = P.serializeSession(s);
        const restored = P.deserializeSession(bytes);
        expect(sameBytes(P.serializeSession(restored), bytes), 'serialisation round trip').toBe(true);
        this.states[op.who] = restored;
        this.stats.persisted++;
        return;
      }
    }
  }

  /**
   * Any bit of a ratchet message. For a PreKeyMessage reaching an existing session, only the bits
   * that session authenticates (the prefix's KEM ciphertext and prekey ids are not re-checked by an
   * existing session: see tamper.test.ts, reported separately).
   */
  private tamperableBit(m: Sent, pick: number): number {
    const totalBits = m.bytes.length * 8;
    if (P.messageType(m.bytes) !== P.MESSAGE_TYPE_PREKEY || (m.from === 'A' && !this.states.B)) return pick % totalBits;
    const ranges = preKeyMessageLayout(m.bytes).filter(
      (f) => ['version', 'type', 'certificateLength', 'certificate', 'baseKey'].includes(f.name) || f.name.startsWith('inner.'),
    );
    const bits = ranges.reduce((acc, f) => acc + (f.end - f.start) * 8, 0);
    let k = pick % bits;
    for (const f of ranges) {
      const n = (f.end - f.start) * 8;
      if (k < n) return f.start * 8 + k;
      k -= n;
    }
    throw new Error('unreachable');
  }

  /** Deliver everything still pending, in an order driven by `picks`. */
  async flush(picks: number[]): Promise<void> {
    let i = 0;
    for (let pending = this.pending(); pending.length > 0; pending = this.pending()) {
      const pick = picks.length ? (picks[i % picks.length] as number) + i : pending.length - 1;
      await this.deliver(pending[pick % pending.length] as Sent, i % 2 === 0);
      i++;
    }
  }
}

async function checkConversation(p: Primitives, alice: TestUser, bob: TestUser, oneTime: boolean, ops: Op[], picks: number[], stats: Stats): Promise<void> {
  const init = await P.initiateSession(p, { identity: alice.device.identity, certificate: alice.certificate }, bundleOf(bob, { oneTime }));
  const c = new Conversation(p, alice, bob, init, stats);
  for (const op of ops) await c.run(op);
  // Everything not dropped arrives, each exactly once.
  await c.flush(picks);
  for (const m of c.sent) expect(m.status === 'delivered' || m.status === 'dropped', `message ${m.id}`).toBe(true);
  // Replaying any delivered message fails (a sample: an old-chain replay costs a DH step).
  const delivered = c.sent.filter((m) => m.status === 'delivered');
  for (const m of delivered.filter((_, i) => i % Math.max(1, Math.floor(delivered.length / 12)) === 0)) {
    await c.expectRejected(other(m.from), m.bytes, true, `replay of message ${m.id}`);
  }
  // The session still works both ways.
  if (!c.states.B) return;
  await c.send('A', 1, 17);
  await c.flush([]);
  await c.send('B', 1, 17);
  await c.flush([]);
  await c.send('A', 1, 0);
  await c.flush([]);
}

describe('two-party interleavings (node primitives)', () => {
  const p = nodePrimitives;
  let alice: TestUser;
  let bob: TestUser;
  beforeAll(async () => {
    alice = await makeUser(p, 'alice');
    bob = await makeUser(p, 'bob');
  });

  it('with reordering, loss, duplicates, tampering, garbage and persistence: every surviving message decrypts exactly once', async () => {
    const stats = newStats();
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(opArb, { minLength: 1, maxLength: 80, size: 'max' }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (oneTime, ops, picks) => {
          await checkConversation(p, alice, bob, oneTime, ops, picks, stats);
        },
      ),
      { numRuns: 150 },
    );
    // The generator must actually reach every behaviour it claims to test.
    for (const [k, v] of Object.entries(stats)) expect(v, k).toBeGreaterThan(20);
    expect(stats.outOfOrder).toBeGreaterThan(500);
    expect(stats.fromSkippedStore).toBeGreaterThan(500);
  });

  it('a failed decrypt (garbage, mutated or spliced message) never changes the state', async () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('bits' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
      fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
      fc.record({ kind: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
      fc.record({ kind: fc.constant('header' as const), pn: fc.option(fc.nat({ max: 0xffffffff })), n: fc.option(fc.nat({ max: 0xffffffff })) }),
      fc.record({ kind: fc.constant('splice' as const), other: fc.nat() }),
      fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
      fc.record({ kind: fc.constant('garbageWithHeader' as const), bytes: fc.uint8Array({ minLength: 17, maxLength: 300 }) }),
    );
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.tuple(fc.nat(), mutation), { minLength: 1, maxLength: 8 }),
        async (aliceSends, bobSends, attacks) => {
          const s = await establish(p, alice, bob);
          // History: Bob now holds skipped keys (Alice's messages arrive last first) ...
          const fromAlice = await sendMany(p, s.alice, aliceSends + 1, 'a');
          let bobState = s.bob;
          bobState = (await P.decryptMessage(p, bobState, fromAlice.messages[aliceSends] as Uint8Array)).state;
          // ... and Bob has messages in flight on his new chain.
          const fromBob = await sendMany(p, bobState, bobSends, 'b');
          const genuine = fromAlice.messages.slice(0, aliceSends); // keys in Bob's skipped store
          const aliceState = fromAlice.state;
          const targets = [...fromAlice.messages, ...fromBob.messages];
          for (const [pick, mut] of attacks) {
            const base = targets[pick % targets.length] as Uint8Array;
            let bytes: Uint8Array;
            switch (mut.kind) {
              case 'bits':
                bytes = mut.bits.reduce((b, bit) => flipBit(b, bit % (b.length * 8)), base);
                break;
              case 'truncate':
                bytes = base.subarray(0, mut.keep % base.length);
                break;
              case 'extend':
                bytes = P.concat(base, mut.extra);
                break;
              case 'header':
                bytes = withU32(withU32(base, 34, mut.pn ?? u32At(base, 34)), 38, mut.n ?? u32At(base, 38));
                break;
              case 'splice': {
                const donor = targets[mut.other % targets.length] as Uint8Array;
                bytes = P.concat(base.subarray(0, 42), donor.subarray(42));
                break;
              }
              case 'garbage':
                bytes = mut.bytes;
                break;
              case 'garbageWithHeader':
                bytes = P.concat(base.subarray(0, 42), mut.bytes);
                break;
            }
            if (targets.some((t) => sameBytes(t, bytes))) continue; // a no-op mutation is the genuine message
            // Whoever would receive it: Bob for Alice's messages (he has skipped keys), Alice for Bob's (new ratchet key).
            const toBob = fromAlice.messages.includes(base);
            const receiver = toBob ? bobState : aliceState;
            const before = P.serializeSession(receiver);
            let error: unknown;
            try {
              await P.decryptMessage(p, receiver, bytes);
            } catch (e) {
              error = e;
            }
            expect(isDecryptError(error), `${mut.kind} → ${String(error)}`).toBe(true);
            expect(sameBytes(P.serializeSession(receiver), before), `${mut.kind}: state changed`).toBe(true);
            rejected++;
          }
          // Every genuine message still decrypts afterwards, from the untouched states.
          for (const [i, m] of genuine.entries()) {
            const r = await P.decryptMessage(p, bobState, m);
            expect(P.fromUtf8(r.plaintext)).toBe(`a${i}`);
            bobState = r.state;
          }
          let a = aliceState;
          for (const [i, m] of fromBob.messages.entries()) {
            const r = await P.decryptMessage(p, a, m);
            expect(P.fromUtf8(r.plaintext)).toBe(`b${i}`);
            a = r.state;
          }
        },
      ),
      { numRuns: 150 },
    );
    expect(rejected).toBeGreaterThan(200);
  });
});

/**
 * Eviction model (§6.4): the skipped-key store is a FIFO capped at MAX_SKIPPED_KEYS. Bob sends
 * rounds of messages on successive chains; Alice receives only the last of each round (skipping the
 * others), sometimes a few held-back ones in between. The model predicts which held-back messages
 * are still decryptable: exactly those whose key was not evicted.
 */
describe('skipped-key eviction (node primitives)', () => {
  const p = nodePrimitives;
  let alice: TestUser;
  let bob: TestUser;
  beforeAll(async () => {
    alice = await makeUser(p, 'alice');
    bob = await makeUser(p, 'bob');
  });

  it('a message whose key was evicted fails cleanly; the rest of the store behaves as a FIFO of MAX_SKIPPED_KEYS', async () => {
    let evictedProbes = 0;
    let keptProbes = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            size: fc.oneof(fc.integer({ min: 1, max: P.MAX_SKIP + 1 }), fc.integer({ min: 900, max: P.MAX_SKIP + 1 }), fc.constant(P.MAX_SKIP + 1)),
            early: fc.array(fc.nat(), { maxLength: 3 }),
          }),
          { minLength: 2, maxLength: 4 },
        ),
        fc.array(fc.nat(), { minLength: 4, maxLength: 12 }),
        async (rounds, probes) => {
          const s = await establish(p, alice, bob);
          let a = s.alice;
          let b = s.bob;
          const held: { key: string; message: Uint8Array; text: string }[] = [];
          let fifo: string[] = [];
          for (const [r, round] of rounds.entries()) {
            if (r > 0) {
              // Alice speaks so that Bob steps to a new chain.
              const ping = await P.encryptMessage(p, a, P.utf8('ping'));
              a = ping.state;
              b = (await P.decryptMessage(p, b, ping.message)).state;
            }
            const sent = await sendMany(p, b, round.size, `r${r}.`);
            b = sent.state;
            const last = sent.messages[round.size - 1] as Uint8Array;
            const d = await P.decryptMessage(p, a, last);
            expect(P.fromUtf8(d.plaintext)).toBe(`r${r}.${round.size - 1}`);
            a = d.state;
            const keys = sent.messages.slice(0, -1).map((m, i) => ({ key: `${r}:${i}`, message: m, text: `r${r}.${i}` }));
            held.push(...keys);
            fifo = [...fifo, ...keys.map((k) => k.key)];
            fifo = fifo.slice(Math.max(0, fifo.length - P.MAX_SKIPPED_KEYS));
            expect(skippedCount(a)).toBe(fifo.length);
            expect(skippedCount(a)).toBeLessThanOrEqual(P.MAX_SKIPPED_KEYS);
            // Sometimes a held-back message arrives in between, freeing its slot.
            for (const e of round.early) {
              const h = held[e % held.length];
              if (!h || !fifo.includes(h.key)) continue;
              const r2 = await P.decryptMessage(p, a, h.message);
              expect(P.fromUtf8(r2.plaintext)).toBe(h.text);
              a = r2.state;
              fifo = fifo.filter((k) => k !== h.key);
              held.splice(held.indexOf(h), 1);
            }
            a = P.deserializeSession(P.serializeSession(a)); // persist between rounds: order must survive
          }
          // Probe: the newest evicted and the oldest kept key, plus random ones.
          const evicted = held.filter((h) => !fifo.includes(h.key));
          const kept = held.filter((h) => fifo.includes(h.key));
          const chosen = new Set<(typeof held)[number]>();
          if (evicted.length) chosen.add(evicted[evicted.length - 1] as (typeof held)[number]);
          if (kept.length) chosen.add(kept.find((h) => h.key === fifo[0]) as (typeof held)[number]);
          for (const i of probes) if (held.length) chosen.add(held[i % held.length] as (typeof held)[number]);
          for (const h of chosen) {
            const before = P.serializeSession(a);
            if (fifo.includes(h.key)) {
              const r = await P.decryptMessage(p, a, h.message);
              expect(P.fromUtf8(r.plaintext)).toBe(h.text);
              expect(skippedCount(r.state)).toBe(fifo.length - 1);
              keptProbes++;
            } else {
              let error: unknown;
              try {
                await P.decryptMessage(p, a, h.message);
              } catch (e) {
                error = e;
              }
              expect(isDecryptError(error), `evicted key ${h.key}: ${String(error)}`).toBe(true);
              expect(sameBytes(P.serializeSession(a), before)).toBe(true);
              evictedProbes++;
            }
          }
        },
      ),
      {
        numRuns: 6,
        // One schedule that certainly overflows the store (3000 skipped keys), whatever the random ones do.
        examples: [
          [
            [
              { size: P.MAX_SKIP + 1, early: [] },
              { size: P.MAX_SKIP + 1, early: [5] },
              { size: P.MAX_SKIP + 1, early: [] },
            ],
            [0, 1, 999, 1000, 2500],
          ],
        ],
      },
    );
    expect(evictedProbes).toBeGreaterThan(0);
    expect(keptProbes).toBeGreaterThan(0);
  });
});

describe('two-party interleavings (web primitives)', () => {
  it('a few schedules with WebCrypto', async () => {
    const p = webPrimitives;
    const alice = await makeUser(p, 'alice');
    const bob = await makeUser(p, 'bob');
    const stats = newStats();
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(opArb, { minLength: 10, maxLength: 40, size: 'max' }),
        fc.array(fc.nat(), { maxLength: 4 }),
        async (oneTime, ops, picks) => {
          await checkConversation(p, alice, bob, oneTime, ops, picks, stats);
        },
      ),
      { numRuns: 15 },
    );
    expect(stats.delivered).toBeGreaterThan(0);
    expect(stats.duplicates + stats.tampered).toBeGreaterThan(0);
  });
});
