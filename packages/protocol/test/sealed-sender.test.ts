/**
 * Sealed sender (docs/PROTOCOL.md §20): HPKE against RFC 9180 Appendix A.2.1, the envelope's round
 * trip on every primitives provider, tamper and wrong-recipient tests, padding, delivery tokens.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { hpkeKeyScheduleBase } from '../src/age/hpke.js';
import type { Primitives } from '../src/primitives/types.js';
import { allPrimitives, establish, makeUser, nodePrimitives, type TestUser } from './helpers.js';
import * as P from './internals.js';

const V = JSON.parse(readFileSync(new URL('./vectors/hpke-rfc9180.json', import.meta.url), 'utf8')) as Record<string, unknown> & {
  encryptions: { pt: string; aad: string; ct: string }[];
};
const hex = (k: string) => P.fromHex(V[k] as string);

describe('HPKE DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20Poly1305, RFC 9180 A.2.1', () => {
  for (const p of allPrimitives) {
    it(`${p.name}: Encap gives the vector's enc and shared_secret; the key schedule its key and base_nonce`, async () => {
      const { enc, sharedSecret } = await P.dhkemEncap(p, hex('pkRm'), hex('skEm'));
      expect(P.toHex(enc)).toBe(V.enc);
      expect(P.toHex(sharedSecret)).toBe(V.shared_secret);
      expect(P.toHex(await P.dhkemDecap(p, hex('enc'), hex('skRm'), hex('pkRm')))).toBe(V.shared_secret);
      const ks = hpkeKeyScheduleBase(P.HPKE_KEM_X25519_HKDF_SHA256, sharedSecret, hex('info'));
      expect(P.toHex(ks.key)).toBe(V.key);
      expect(P.toHex(ks.baseNonce)).toBe(V.base_nonce);
    });
    it(`${p.name}: SealBase / OpenBase reproduce the sequence-0 encryption`, async () => {
      const e = V.encryptions[0] as { pt: string; aad: string; ct: string };
      const sealed = await P.hpkeSealX25519(p, hex('pkRm'), hex('info'), P.fromHex(e.aad), P.fromHex(e.pt), hex('skEm'));
      expect(P.toHex(sealed.enc)).toBe(V.enc);
      expect(P.toHex(sealed.ciphertext)).toBe(e.ct);
      const opened = await P.hpkeOpenX25519(p, hex('enc'), hex('skRm'), hex('pkRm'), hex('info'), P.fromHex(e.aad), P.fromHex(e.ct));
      expect(P.toHex(opened as Uint8Array)).toBe(e.pt);
      // A flipped bit anywhere in ct, aad or info: no plaintext.
      const bad = P.fromHex(e.ct);
      bad[3] = (bad[3] as number) ^ 1;
      expect(await P.hpkeOpenX25519(p, hex('enc'), hex('skRm'), hex('pkRm'), hex('info'), P.fromHex(e.aad), bad)).toBeNull();
      expect(await P.hpkeOpenX25519(p, hex('enc'), hex('skRm'), hex('pkRm'), P.utf8('other info'), P.fromHex(e.aad), P.fromHex(e.ct))).toBeNull();
    });
  }
  it('refuses a small-order recipient key and enc', async () => {
    const zero = new Uint8Array(32);
    await expect(P.dhkemEncap(nodePrimitives, zero, hex('skEm'))).rejects.toMatchObject({ code: 'ERR_INVALID_KEY' });
    expect(await P.hpkeOpenX25519(nodePrimitives, zero, hex('skRm'), hex('pkRm'), hex('info'), new Uint8Array(0), new Uint8Array(32))).toBeNull();
  });
});

describe('sealed envelope (PROTOCOL.md §20.2)', () => {
  const p: Primitives = nodePrimitives;
  let alice: TestUser;
  let bob: TestUser;
  let carol: TestUser;
  const recipientOf = (u: TestUser) => ({ user: u.user, deviceId: u.device.deviceId, identityKey: u.device.identity.publicKey });
  const selfOf = (u: TestUser) => ({ ...recipientOf(u), identityPrivate: u.device.identity.privateKey });
  beforeAll(async () => {
    alice = await makeUser(p, 'alice');
    bob = await makeUser(p, 'bob');
    carol = await makeUser(p, 'carol');
  });

  for (const q of allPrimitives) {
    it(`${q.name}: round trip; the certificate and message come back; sealed on one provider opens on the others`, async () => {
      const message = q.randomBytes(200);
      const sealed = await P.sealEnvelope(q, recipientOf(bob), alice.certificate, message);
      for (const r of allPrimitives) {
        const opened = await P.openEnvelope(r, selfOf(bob), sealed);
        expect(opened.message).toEqual(message);
        expect(opened.certificateBytes).toEqual(alice.certificate);
        expect(opened.certificate.user).toBe('alice');
        expect(opened.certificate.deviceId).toBe(alice.device.deviceId);
      }
    });
  }

  it('the sealed bytes contain neither the sender name, its device id bytes in clear, nor its certificate', async () => {
    const sealed = await P.sealEnvelope(p, recipientOf(bob), alice.certificate, P.utf8('alice says hi'));
    const s = Buffer.from(sealed);
    expect(s.includes(Buffer.from('alice'))).toBe(false);
    expect(s.includes(Buffer.from(alice.certificate.subarray(0, 40)))).toBe(false);
    expect(s.includes(Buffer.from(alice.device.identity.publicKey))).toBe(false);
  });

  it('padded: sizes fall in Padmé buckets, and two messages of nearby lengths give the same sealed size', async () => {
    const a = await P.sealEnvelope(p, recipientOf(bob), alice.certificate, new Uint8Array(1000));
    const b = await P.sealEnvelope(p, recipientOf(bob), alice.certificate, new Uint8Array(1010));
    expect(a.length).toBe(b.length);
    expect(a.length).toBe(P.padme(3 + alice.certificate.length + 1000 + 1) + P.SEALED_OVERHEAD_BYTES);
  });

  it('every flipped bit of the envelope is refused with the one DecryptError', async () => {
    const sealed = await P.sealEnvelope(p, recipientOf(bob), alice.certificate, P.utf8('tamper me'));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: sealed.length * 8 - 1 }), async (bit) => {
        const t = sealed.slice();
        t[bit >> 3] = (t[bit >> 3] as number) ^ (1 << (bit & 7));
        await expect(P.openEnvelope(p, selfOf(bob), t)).rejects.toBeInstanceOf(P.DecryptError);
      }),
      { numRuns: 60 },
    );
    // Truncated, extended, empty.
    await expect(P.openEnvelope(p, selfOf(bob), sealed.subarray(0, sealed.length - 1))).rejects.toBeInstanceOf(P.DecryptError);
    await expect(P.openEnvelope(p, selfOf(bob), P.concat(sealed, Uint8Array.of(0)))).rejects.toBeInstanceOf(P.DecryptError);
    await expect(P.openEnvelope(p, selfOf(bob), new Uint8Array(0))).rejects.toBeInstanceOf(P.DecryptError);
  });

  it('wrong recipient: another device, or the same key under another user name or device id, cannot open it', async () => {
    const sealed = await P.sealEnvelope(p, recipientOf(bob), alice.certificate, P.utf8('for bob'));
    await expect(P.openEnvelope(p, selfOf(carol), sealed)).rejects.toBeInstanceOf(P.DecryptError);
    await expect(P.openEnvelope(p, { ...selfOf(bob), user: 'carol' }, sealed)).rejects.toBeInstanceOf(P.DecryptError);
    await expect(P.openEnvelope(p, { ...selfOf(bob), deviceId: bob.device.deviceId + 1 }, sealed)).rejects.toBeInstanceOf(P.DecryptError);
  });

  it('a swapped certificate opens, but names a sender whose session did not write the ratchet message: it does not decrypt', async () => {
    // The envelope layer has no sender authentication of its own (anyone can seal to Bob): the
    // ratchet message inside is what authenticates the sender. Mallory (carol) claims to be Alice.
    const ab = await establish(p, alice, bob);
    let bobFromAlice = ab.bob;
    const real = await P.encryptMessage(p, ab.alice, P.utf8('from alice'));
    // Mallory's own, genuine session with Bob: her ratchet message, Alice's certificate around it.
    const cb = await establish(p, carol, bob);
    const forged = await P.encryptMessage(p, cb.alice, P.utf8('I am alice'));
    const sealed = await P.sealEnvelope(p, recipientOf(bob), alice.certificate, forged.message);
    const opened = await P.openEnvelope(p, selfOf(bob), sealed);
    expect(opened.certificate.user).toBe('alice');
    // Bob decrypts with the session of the claimed sender: refused.
    await expect(P.decryptMessage(p, bobFromAlice, opened.message)).rejects.toBeInstanceOf(P.DecryptError);
    // The genuine one decrypts.
    const ok = await P.openEnvelope(p, selfOf(bob), await P.sealEnvelope(p, recipientOf(bob), alice.certificate, real.message));
    const out = await P.decryptMessage(p, bobFromAlice, ok.message);
    bobFromAlice = out.state;
    expect(P.fromUtf8(out.plaintext)).toBe('from alice');
  });

  it('delivery token verifiers: 32 bytes in, a labelled SHA-256 out; other lengths refused', async () => {
    const t = P.newDeliveryToken(p);
    const v = await P.deliveryTokenVerifier(p, t);
    expect(v.length).toBe(32);
    expect(v).toEqual(await p.sha256(P.concat(P.utf8('blindrelay/delivery-token/v1'), t)));
    expect(v).not.toEqual(await P.deliveryTokenVerifier(p, P.newDeliveryToken(p)));
    await expect(P.deliveryTokenVerifier(p, new Uint8Array(31))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });
});
