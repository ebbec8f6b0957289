/**
 * Signed file contents (docs/PROTOCOL.md §15.4): the payload digest chain (src/payload-digest.ts)
 * against an independent reference built on @noble/hashes, in pieces of any size and resumed from
 * any chunk; the owner's seal (src/file-seal.ts): what it binds and its strict decoder.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.js';
import { createNodePrimitives } from '../src/primitives/node.js';
import { createWebPrimitives } from '../src/primitives/web.js';

const node = createNodePrimitives();
const web = createWebPrimitives();
const ENC = P.ENCRYPTED_CHUNK_BYTES;

/** The chain of PROTOCOL.md §15.4 written out directly with @noble/hashes. */
function reference(payload: Uint8Array): Uint8Array {
  let d = sha256(P.concat(P.utf8('Blindrelay_FilePayload_v1'), Uint8Array.of(0), payload.subarray(0, 16)));
  for (let at = 16; at < payload.length; at += ENC) d = sha256(P.concat(d, sha256(payload.subarray(at, Math.min(at + ENC, payload.length)))));
  return d;
}

async function digestOf(p: P.Primitives, payload: Uint8Array, cuts: readonly number[]): Promise<Uint8Array> {
  const d = P.PayloadDigest.create(p);
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    await d.update(payload.subarray(at, c));
    at = c;
  }
  await d.update(payload.subarray(at));
  return d.finish();
}

describe('payload digest', () => {
  it('sha256 is FIPS 180-4 SHA-256 on both primitive sets', async () => {
    for (const p of [node, web]) {
      expect(P.toHex(await p.sha256(P.utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      const data = node.randomBytes(100_000);
      expect(await p.sha256(data)).toEqual(sha256(data));
    }
  });

  it('matches the reference for payloads at chunk boundaries, in pieces of any size, on both primitive sets', async () => {
    const key = P.generateFileKey(node);
    for (const size of [0, 1, P.CHUNK_BYTES - 1, P.CHUNK_BYTES, P.CHUNK_BYTES + 1, 3 * P.CHUNK_BYTES]) {
      const payload = await P.encryptPayload(node, key, node.randomBytes(size));
      const expected = reference(payload);
      expect(await digestOf(node, payload, []), `size ${size}`).toEqual(expected);
      expect(await digestOf(web, payload, [1, 15, 16, 17, ENC, ENC + 16]), `size ${size}`).toEqual(expected);
    }
    const payload = await P.encryptPayload(node, key, node.randomBytes(2 * P.CHUNK_BYTES + 77));
    const expected = reference(payload);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: payload.length }), { maxLength: 12 }), async (cuts) => {
        expect(await digestOf(node, payload, cuts)).toEqual(expected);
      }),
      { numRuns: 40 },
    );
    // Any changed byte, a chunk dropped, or bytes appended: another digest.
    const flipped = payload.slice();
    flipped[ENC + 100] = (flipped[ENC + 100] as number) ^ 1;
    expect(await digestOf(node, flipped, [])).not.toEqual(expected);
    expect(await digestOf(node, payload.subarray(0, 16 + ENC), [])).not.toEqual(expected);
    expect(await digestOf(node, P.concat(payload, new Uint8Array(1)), [])).not.toEqual(expected);
  });

  it('resumes from a checkpoint at any chunk with the same result', async () => {
    const payload = await P.encryptPayload(node, P.generateFileKey(node), node.randomBytes(4 * P.CHUNK_BYTES + 5));
    const expected = reference(payload);
    const d = P.PayloadDigest.create(node);
    await d.update(payload.subarray(0, 16));
    const checkpoints = [d.checkpoint()];
    for (let i = 0; i < 4; i++) {
      await d.update(payload.subarray(16 + i * ENC, 16 + (i + 1) * ENC));
      checkpoints.push(d.checkpoint());
    }
    for (const at of checkpoints) {
      const resumed = P.PayloadDigest.resume(node, at);
      await resumed.update(payload.subarray(P.payloadOffsetOfChunk(at.chunk)));
      expect(await resumed.finish(), `from chunk ${at.chunk}`).toEqual(expected);
    }
    // Not between chunks, not before the nonce, not twice.
    const mid = P.PayloadDigest.create(node);
    await mid.update(payload.subarray(0, 100));
    expect(() => mid.checkpoint()).toThrow(P.InvalidArgumentError);
    const early = P.PayloadDigest.create(node);
    await early.update(payload.subarray(0, 10));
    await expect(early.finish()).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await mid.finish();
    await expect(mid.finish()).rejects.toBeInstanceOf(P.InvalidArgumentError);
    expect(() => P.PayloadDigest.resume(node, { chunk: 1, state: new Uint8Array(31) })).toThrow(P.InvalidArgumentError);
  });
});

describe('file seal', () => {
  it("verifies only with the owner's key, for the file key, id, version, size and digest it was made for", async () => {
    const owner = await P.generateMasterKey(node);
    const other = await P.generateMasterKey(node);
    const fileKey = P.generateFileKey(node);
    const ref: P.FileVersionRef = { fileId: node.randomBytes(16), version: 3, payloadSize: 1000 };
    const digest = node.randomBytes(32);
    const seal = await P.signFileSeal(node, owner.seed, fileKey, ref, digest);
    expect(seal.length).toBe(P.FILE_SEAL_BYTES);
    expect(await P.verifyFileSeal(node, owner.publicKey, fileKey, ref, seal)).toEqual(digest);
    expect(await P.verifyFileSeal(web, owner.publicKey, fileKey, ref, seal)).toEqual(digest);

    const refused = async (what: string, r: P.FileVersionRef, s: Uint8Array, key = owner.publicKey, fk = fileKey) => {
      await expect(P.verifyFileSeal(node, key, fk, r, s), what).rejects.toBeInstanceOf(P.SignatureError);
    };
    await refused('another master key (a reader sealing content)', ref, seal, other.publicKey);
    await refused('another file key', ref, seal, owner.publicKey, P.generateFileKey(node));
    await refused('another file', { ...ref, fileId: node.randomBytes(16) }, seal);
    await refused('another version', { ...ref, version: 4 }, seal);
    await refused('another payload size', { ...ref, payloadSize: 1001 }, seal);
    const otherDigest = seal.slice();
    otherDigest[5] = (otherDigest[5] as number) ^ 1;
    await refused('another digest', ref, otherDigest);
    const badSignature = seal.slice();
    badSignature[60] = (badSignature[60] as number) ^ 1;
    await refused('a signature byte changed', ref, badSignature);
    // A reader who knows the file key signs with their own master key: refused for the owner.
    await refused("a reader's own seal", ref, await P.signFileSeal(node, other.seed, fileKey, ref, digest));
  });

  it("format 2 (custody §16.2): verifies only under a key of the owner's current devices, never as a master seal, and not under the v1 label", async () => {
    const master = await P.generateMasterKey(node);
    const device = await P.generateDeviceKeys(node);
    const other = await P.generateDeviceKeys(node);
    const fileKey = P.generateFileKey(node);
    const ref = { fileId: node.randomBytes(16), version: 3, payloadSize: 99 };
    const digest = node.randomBytes(32);
    const seal = await P.signDeviceFileSeal(node, device.signing.seed, fileKey, ref, digest);
    expect(seal.length).toBe(P.FILE_SEAL_BYTES);
    expect(seal[0]).toBe(2);
    const owner = { masterKey: master.publicKey, deviceKeys: [other.signing.publicKey, device.signing.publicKey] };
    expect(await P.verifyAnyFileSeal(node, owner, fileKey, ref, seal)).toEqual(digest);
    // The device left the list (revoked): its seal no longer verifies.
    await expect(P.verifyAnyFileSeal(node, { ...owner, deviceKeys: [other.signing.publicKey] }, fileKey, ref, seal)).rejects.toBeInstanceOf(P.SignatureError);
    await expect(P.verifyAnyFileSeal(node, owner, fileKey, { ...ref, version: 4 }, seal)).rejects.toBeInstanceOf(P.SignatureError);
    await expect(P.verifyFileSeal(node, device.signing.publicKey, fileKey, ref, seal)).rejects.toBeInstanceOf(P.SignatureError);
    // A master seal still verifies through the same entry point; relabelled as format 2 it does not.
    const masterSeal = await P.signFileSeal(node, master.seed, fileKey, ref, digest);
    expect(await P.verifyAnyFileSeal(node, owner, fileKey, ref, masterSeal)).toEqual(digest);
    const relabelled = masterSeal.slice();
    relabelled[0] = 2;
    await expect(P.verifyAnyFileSeal(node, { ...owner, deviceKeys: [master.publicKey] }, fileKey, ref, relabelled)).rejects.toBeInstanceOf(P.SignatureError);
  });

  it('decodes exactly (0x01 | 0x02) | digest[32] | signature[64] and nothing else', async () => {
    const owner = await P.generateMasterKey(node);
    const seal = await P.signFileSeal(
      node,
      owner.seed,
      P.generateFileKey(node),
      { fileId: node.randomBytes(16), version: 1, payloadSize: 16 },
      node.randomBytes(32),
    );
    const decoded = P.decodeFileSeal(seal);
    expect(P.encodeFileSeal(decoded)).toEqual(seal);
    for (let n = 0; n < seal.length; n++) expect(() => P.decodeFileSeal(seal.subarray(0, n)), `truncated to ${n}`).toThrow(P.DecodeError);
    expect(() => P.decodeFileSeal(P.concat(seal, new Uint8Array(1)))).toThrow(P.DecodeError);
    const v3 = seal.slice();
    v3[0] = 3;
    expect(() => P.decodeFileSeal(v3)).toThrow(P.DecodeError);
  });
});
