/** Owner-signed reader lists of stored files (docs/PROTOCOL.md §15.3; src/file-access.ts). */
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.js';
import { createNodePrimitives } from '../src/primitives/node.js';

const p = createNodePrimitives();

describe('file access lists', () => {
  it('format 2 verifies only for the owner, the file key, the file id, the header and the metadata it was signed for', async () => {
    const owner = await P.generateMasterKey(p);
    const other = await P.generateMasterKey(p);
    const fileKey = P.generateFileKey(p);
    const bound: P.FileAccessBinding = { fileId: p.randomBytes(16), headerMac: p.randomBytes(32), name: 'report.pdf', size: 1234, mtimeMs: 1_700_000_000_000 };
    const access = await P.signFileAccess(p, owner.seed, fileKey, 'alice', ['carol', 'bob'], bound);
    expect(access.readers).toEqual(['bob', 'carol']);
    await P.verifyFileAccess(p, owner.publicKey, fileKey, access, bound);
    const { mtimeMs: _m, ...noMtime } = bound;
    const signedNoMtime = await P.signFileAccess(p, owner.seed, fileKey, 'alice', [], noMtime);
    await P.verifyFileAccess(p, owner.publicKey, fileKey, signedNoMtime, noMtime);

    const refused = async (what: string, a: P.FileAccess, b: P.FileAccessBinding, key = owner.publicKey, fk = fileKey) => {
      await expect(P.verifyFileAccess(p, key, fk, a, b), what).rejects.toBeInstanceOf(P.BlindrelayError);
    };
    await refused('another master key', access, bound, other.publicKey);
    await refused('another file key (another file, or before a revocation)', access, bound, owner.publicKey, P.generateFileKey(p));
    await refused('another file id (metadata moved to another file)', access, { ...bound, fileId: p.randomBytes(16) });
    await refused('another header', access, { ...bound, headerMac: p.randomBytes(32) });
    await refused('another name', access, { ...bound, name: 'report.pdf.exe' });
    await refused('another size', access, { ...bound, size: 1235 });
    await refused('another modification time', access, { ...bound, mtimeMs: 1 });
    await refused('no modification time', access, noMtime);
    await refused('a modification time added', signedNoMtime, bound);
    await refused('a reader added', { ...access, readers: ['bob', 'carol', 'mallory'] }, bound);
    await refused('a reader removed', { ...access, readers: ['bob'] }, bound);
    await refused('another owner named', { ...access, owner: 'bob' }, bound);
    await refused('not in canonical order', { ...access, readers: ['carol', 'bob'] }, bound);
    for (let i = 0; i < 64; i += 9) {
      const signature = access.signature.slice();
      signature[i] = (signature[i] as number) ^ 1;
      await refused(`signature byte ${i}`, { ...access, signature }, bound);
    }
    // A format-1 list of the same file key is not a format-2 one, and the other way round.
    const legacy = await P.signLegacyFileAccess(p, owner.seed, fileKey, 'alice', ['bob', 'carol']);
    await refused('a format-1 signature', legacy, bound);
    await expect(P.verifyLegacyFileAccess(p, owner.publicKey, fileKey, access)).rejects.toBeInstanceOf(P.SignatureError);

    await expect(P.signFileAccess(p, owner.seed, fileKey, 'alice', ['alice'], bound)).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(P.signFileAccess(p, owner.seed, fileKey, 'alice', ['bob', 'bob'], bound)).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(P.signFileAccess(p, owner.seed, fileKey, 'alice', ['Bad Name'], bound)).rejects.toBeInstanceOf(P.BlindrelayError);
    await expect(P.signFileAccess(p, owner.seed, fileKey, 'alice', [], { ...bound, name: '' })).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(P.signFileAccess(p, owner.seed, fileKey, 'alice', [], { ...bound, mtimeMs: -1 })).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(P.signFileAccess(p, owner.seed, fileKey, 'alice', [], { ...bound, fileId: p.randomBytes(15) })).rejects.toThrow();
  });

  it("format 3 (custody §16.2): signed by a device, verifies only under the signing keys of the owner's current devices and for what it was bound to", async () => {
    const master = await P.generateMasterKey(p);
    const companion = await P.generateDeviceKeys(p);
    const primary = await P.generateDeviceKeys(p);
    const fileKey = P.generateFileKey(p);
    const bound: P.FileAccessBinding = { fileId: p.randomBytes(16), headerMac: p.randomBytes(32), name: 'a.txt', size: 5 };
    const access = await P.signDeviceFileAccess(p, companion.signing.seed, fileKey, 'alice', ['bob'], bound);
    const current = [primary.signing.publicKey, companion.signing.publicKey];
    expect(await P.verifyDeviceFileAccess(p, current, fileKey, access, bound)).toBe(1);
    // Revoked: the companion is no longer in the list, its lists stop verifying.
    await expect(P.verifyDeviceFileAccess(p, [primary.signing.publicKey], fileKey, access, bound)).rejects.toBeInstanceOf(P.SignatureError);
    await expect(P.verifyDeviceFileAccess(p, current, fileKey, { ...access, readers: ['bob', 'mallory'] }, bound)).rejects.toBeInstanceOf(P.SignatureError);
    await expect(P.verifyDeviceFileAccess(p, current, fileKey, access, { ...bound, size: 6 })).rejects.toBeInstanceOf(P.SignatureError);
    await expect(P.verifyDeviceFileAccess(p, current, P.generateFileKey(p), access, bound)).rejects.toBeInstanceOf(P.SignatureError);
    // Not interchangeable with format 2 (the master key's), in either direction.
    await expect(P.verifyFileAccess(p, companion.signing.publicKey, fileKey, access, bound)).rejects.toBeInstanceOf(P.SignatureError);
    const v2 = await P.signFileAccess(p, master.seed, fileKey, 'alice', ['bob'], bound);
    await expect(P.verifyDeviceFileAccess(p, [master.publicKey], fileKey, v2, bound)).rejects.toBeInstanceOf(P.SignatureError);
  });

  it('format 1 (files stored before 2026-12-03) still verifies for the owner, the file key and the exact reader set', async () => {
    const owner = await P.generateMasterKey(p);
    const other = await P.generateMasterKey(p);
    const fileKey = P.generateFileKey(p);
    const access = await P.signLegacyFileAccess(p, owner.seed, fileKey, 'alice', ['carol', 'bob']);
    expect(access.readers).toEqual(['bob', 'carol']);
    await P.verifyLegacyFileAccess(p, owner.publicKey, fileKey, access);
    const refused = async (what: string, key: Uint8Array, fk: Uint8Array, a: P.FileAccess) => {
      await expect(P.verifyLegacyFileAccess(p, key, fk, a), what).rejects.toBeInstanceOf(P.BlindrelayError);
    };
    await refused('another master key', other.publicKey, fileKey, access);
    await refused('another file key', owner.publicKey, P.generateFileKey(p), access);
    await refused('a reader added', owner.publicKey, fileKey, { ...access, readers: ['bob', 'carol', 'mallory'] });
    await refused('another owner named', owner.publicKey, fileKey, { ...access, owner: 'bob' });
    await refused('not in canonical order', owner.publicKey, fileKey, { ...access, readers: ['carol', 'bob'] });
  });
});
