/**
 * Signed requests (PROTOCOL.md §13.1), send marks (§13.2) and the link comparison code (§12.1):
 * the encodings byte for byte, signatures checked by node:crypto directly (not through our
 * primitives), domain separation between the labels, and every field bound.
 */
import { createHash, createPublicKey, hkdfSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { allPrimitives, nodePrimitives } from './helpers.js';
import * as P from './internals.js';

const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const nodeVerify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) =>
  verify(null, message, createPublicKey({ key: Buffer.concat([ED25519_SPKI, publicKey]), format: 'der', type: 'spki' }), signature);
const labelled = (label: string, body: Uint8Array) => Buffer.concat([Buffer.from(label), Buffer.of(0), body]);

const request = (over: Partial<P.SignedRequest> = {}): P.SignedRequest => ({
  user: 'alice',
  deviceId: 7,
  timestamp: 1_700_000_000_123,
  nonce: new Uint8Array(16).fill(0xab),
  method: 'POST',
  path: '/v1/messages/ack',
  bodyHash: new Uint8Array(createHash('sha512').update('{"ids":[]}').digest()),
  ...over,
});

describe('signed request encoding', () => {
  it('is the documented layout', () => {
    const r = request();
    const expected = Buffer.concat([
      Buffer.of(0x01, 5),
      Buffer.from('alice'),
      Buffer.from('00000007', 'hex'),
      Buffer.from('0000018bcfe5687b', 'hex'),
      Buffer.alloc(16, 0xab),
      Buffer.of(4),
      Buffer.from('POST'),
      Buffer.from('0010', 'hex'),
      Buffer.from('/v1/messages/ack'),
      r.bodyHash,
    ]);
    expect(Buffer.from(P.encodeSignedRequest(r)).toString('hex')).toBe(expected.toString('hex'));
  });

  it('hashes the body with SHA-512 (nothing: the empty string)', async () => {
    const p = nodePrimitives;
    expect(Buffer.from(await P.requestBodyHash(p)).toString('hex')).toBe(createHash('sha512').update('').digest('hex'));
    expect(Buffer.from(await P.requestBodyHash(p, P.utf8('x'))).toString('hex')).toBe(createHash('sha512').update('x').digest('hex'));
  });

  it('refuses out-of-range fields with InvalidArgumentError', () => {
    const bad: Partial<P.SignedRequest>[] = [
      { user: 'Alice' },
      { deviceId: 0 },
      { deviceId: 2 ** 32 },
      { timestamp: -1 },
      { timestamp: 2 ** 53 },
      { nonce: new Uint8Array(15) },
      { method: 'post' },
      { method: '' },
      { path: 'v1/x' },
      { path: '/v1/a b' },
      { path: `/${'a'.repeat(2048)}` },
      { bodyHash: new Uint8Array(32) },
    ];
    for (const over of bad) expect(() => P.encodeSignedRequest(request(over)), JSON.stringify(Object.keys(over))).toThrow(P.InvalidArgumentError);
  });
});

describe.each(allPrimitives.map((p) => [p.name, p] as const))('signatures with %s primitives', (_name, p) => {
  it('signs a request under its label, verified by node:crypto; any other field fails', async () => {
    const device = await P.generateDeviceKeys(p, 7);
    const r = request();
    const sig = await P.signRequest(p, device.signing.seed, r);
    expect(nodeVerify(device.signing.publicKey, labelled('Blindrelay_Request_v1', P.encodeSignedRequest(r)), sig)).toBe(true);
    await P.verifyRequest(p, device.signing.publicKey, r, sig);
    const changes: Partial<P.SignedRequest>[] = [
      { user: 'bob' },
      { deviceId: 8 },
      { timestamp: r.timestamp + 1 },
      { nonce: new Uint8Array(16) },
      { method: 'DELETE' },
      { path: '/v1/messages/ack?x' },
      { bodyHash: new Uint8Array(64) },
    ];
    for (const over of changes) await expect(P.verifyRequest(p, device.signing.publicKey, request(over), sig)).rejects.toBeInstanceOf(P.SignatureError);
  });

  it('signs send marks under their own label; a mark never verifies as another', async () => {
    const device = await P.generateDeviceKeys(p, 7);
    const m = { user: 'alice', deviceId: 7, mark: 42 };
    const sig = await P.signSendMark(p, device.signing.seed, m);
    const body = Buffer.concat([Buffer.of(0x01, 5), Buffer.from('alice'), Buffer.from('00000007', 'hex'), Buffer.from('000000000000002a', 'hex')]);
    expect(Buffer.from(P.encodeSendMark(m)).toString('hex')).toBe(body.toString('hex'));
    expect(nodeVerify(device.signing.publicKey, labelled('Blindrelay_SendMark_v1', body), sig)).toBe(true);
    await P.verifySendMark(p, device.signing.publicKey, m, sig);
    for (const over of [{ mark: 43 }, { mark: 41 }, { deviceId: 8 }, { user: 'bob' }]) {
      await expect(P.verifySendMark(p, device.signing.publicKey, { ...m, ...over }, sig)).rejects.toBeInstanceOf(P.SignatureError);
    }
    expect(() => P.encodeSendMark({ ...m, mark: 0 })).toThrow(P.InvalidArgumentError);
    // Domain separation: the same signing key's signatures of one kind never pass as another.
    const asChallenge = await P.signAuthChallenge(p, device.signing.seed, new Uint8Array(32), 'alice', 7);
    await expect(P.verifySendMark(p, device.signing.publicKey, m, asChallenge)).rejects.toBeInstanceOf(P.SignatureError);
    await expect(P.verifyRequest(p, device.signing.publicKey, request(), sig)).rejects.toBeInstanceOf(P.SignatureError);
  });

  it('derives the link comparison code from the channel id and the key, as §12.1 says', async () => {
    const key = (await P.generateX25519(p)).publicKey;
    const channel = p.randomBytes(16);
    const sas = await P.provisioningSas(p, channel, key);
    expect(sas).toMatch(/^\d{6}$/);
    const okm = Buffer.from(hkdfSync('sha256', key, channel, 'Blindrelay_ProvisioningSAS_v1', 5));
    expect(sas).toBe(String(okm.readUIntBE(0, 5) % 1_000_000).padStart(6, '0'));
    expect(await P.provisioningSas(p, channel, key)).toBe(sas);
    // Another channel or another key: another code (with overwhelming probability over 8 tries).
    const others = new Set<string>();
    for (let i = 0; i < 8; i++) others.add(await P.provisioningSas(p, p.randomBytes(16), key));
    expect(others.size).toBeGreaterThan(1);
    await expect(P.provisioningSas(p, channel, new Uint8Array(32))).rejects.toBeInstanceOf(P.InvalidKeyError);
    await expect(P.provisioningSas(p, new Uint8Array(0), key)).rejects.toBeInstanceOf(P.InvalidArgumentError);
  });
});
