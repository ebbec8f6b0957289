/**
 * The memory of verified sealed-sender certificates (verified-certificates.ts): it answers exactly
 * as verifyDeviceCertificate does, verifies a certificate's signature once per (bytes, user,
 * master key), and never turns a refusal, another user, another master key or other bytes into a
 * success.
 */
import {
  type BlindrelayError,
  generateDeviceKeys,
  generateMasterKey,
  issueDeviceCertificate,
  type Primitives,
  verifyDeviceCertificate,
} from '@blindrelay/protocol';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import { describe, expect, it } from 'vitest';
import { VerifiedCertificates } from '../src/verified-certificates.js';

/** Primitives counting Ed25519 verifications. */
function counting(): { p: Primitives; verifies: () => number } {
  const base = createNodePrimitives();
  let n = 0;
  const p: Primitives = {
    ...base,
    ed25519Verify: (k, m, s) => {
      n++;
      return base.ed25519Verify(k, m, s);
    },
  };
  return { p, verifies: () => n };
}

describe('verified certificates', () => {
  it('verify once per certificate, user and master key; refusals are never remembered', async () => {
    const { p, verifies } = counting();
    const master = await generateMasterKey(p);
    const mallory = await generateMasterKey(p);
    const device = await generateDeviceKeys(p, 3);
    const bytes = await issueDeviceCertificate(p, 'alice', master, device);
    const trusted = { user: 'alice', masterKey: master.publicKey };
    const cache = new VerifiedCertificates();

    const direct = await verifyDeviceCertificate(p, bytes, trusted);
    const before = verifies();
    const first = await cache.verify(p, bytes, trusted);
    expect(first).toEqual(direct);
    expect(verifies()).toBe(before + 1);
    for (let i = 0; i < 5; i++) expect(await cache.verify(p, bytes.slice(), trusted)).toEqual(direct);
    expect(verifies()).toBe(before + 1);

    // Another master key, another user, a flipped signature byte: refused, every time, as without the cache.
    const refusals = [
      { bytes, trusted: { user: 'alice', masterKey: mallory.publicKey } },
      { bytes, trusted: { user: 'bob', masterKey: master.publicKey } },
      { bytes: Uint8Array.from(bytes, (b, i) => (i === bytes.length - 1 ? b ^ 1 : b)), trusted },
    ];
    for (const r of refusals) {
      const plain = await verifyDeviceCertificate(p, r.bytes, r.trusted).then(
        () => 'accepted',
        (e: unknown) => (e as BlindrelayError).code,
      );
      expect(plain).not.toBe('accepted');
      for (let i = 0; i < 2; i++) {
        const cached = await cache.verify(p, r.bytes, r.trusted).then(
          () => 'accepted',
          (e: unknown) => (e as BlindrelayError).code,
        );
        expect(cached).toBe(plain);
      }
    }
    expect(cache.size).toBe(1);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('keeps the 1024 most recently used and verifies an evicted one again', async () => {
    const { p, verifies } = counting();
    const master = await generateMasterKey(p);
    const trusted = { user: 'alice', masterKey: master.publicKey };
    const cache = new VerifiedCertificates();
    const device = await generateDeviceKeys(p, 1);
    const certs: Uint8Array[] = [];
    for (let id = 1; id <= 1025; id++) certs.push(await issueDeviceCertificate(p, 'alice', master, { ...device, deviceId: id }));
    for (const c of certs.slice(0, 1024)) await cache.verify(p, c, trusted);
    await cache.verify(p, certs[0] as Uint8Array, trusted); // used again: now the most recent
    await cache.verify(p, certs[1024] as Uint8Array, trusted); // evicts the least recently used, certs[1]
    expect(cache.size).toBe(1024);
    const n = verifies();
    await cache.verify(p, certs[0] as Uint8Array, trusted);
    await cache.verify(p, certs[1024] as Uint8Array, trusted);
    expect(verifies()).toBe(n);
    await cache.verify(p, certs[1] as Uint8Array, trusted);
    expect(verifies()).toBe(n + 1);
  });
});
