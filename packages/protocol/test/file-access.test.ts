/** Owner-signed reader lists of stored files (docs/PROTOCOL.md §15.3; src/file-access.ts). */
import { describe, expect, it } from 'vitest';
import * as P from '../src/index.js';
import { createNodePrimitives } from '../src/primitives/node.js';

const p = createNodePrimitives();

describe('file access lists', () => {
  it('verify only for the owner, the file key, and the exact reader set they were signed for', async () => {
    const owner = await P.generateMasterKey(p);
    const other = await P.generateMasterKey(p);
    const fileKey = P.generateFileKey(p);
    const access = await P.signFileAccess(p, owner.seed, fileKey, 'alice', ['carol', 'bob']);
    expect(access.readers).toEqual(['bob', 'carol']);
    await P.verifyFileAccess(p, owner.publicKey, fileKey, access);

    const refused = async (what: string, key: Uint8Array, fk: Uint8Array, a: P.FileAccess) => {
      await expect(P.verifyFileAccess(p, key, fk, a), what).rejects.toBeInstanceOf(P.BlindrelayError);
    };
    await refused('another master key', other.publicKey, fileKey, access);
    await refused('another file key (another file, or before a revocation)', owner.publicKey, P.generateFileKey(p), access);
    await refused('a reader added', owner.publicKey, fileKey, { ...access, readers: ['bob', 'carol', 'mallory'] });
    await refused('a reader removed', owner.publicKey, fileKey, { ...access, readers: ['bob'] });
    await refused('another owner named', owner.publicKey, fileKey, { ...access, owner: 'bob' });
    await refused('not in canonical order', owner.publicKey, fileKey, { ...access, readers: ['carol', 'bob'] });
    for (let i = 0; i < 64; i += 9) {
      const signature = access.signature.slice();
      signature[i] = (signature[i] as number) ^ 1;
      await refused(`signature byte ${i}`, owner.publicKey, fileKey, { ...access, signature });
    }
    await expect(P.signFileAccess(p, owner.seed, fileKey, 'alice', ['alice'])).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(P.signFileAccess(p, owner.seed, fileKey, 'alice', ['bob', 'bob'])).rejects.toBeInstanceOf(P.InvalidArgumentError);
    await expect(P.signFileAccess(p, owner.seed, fileKey, 'alice', ['Bad Name'])).rejects.toBeInstanceOf(P.BlindrelayError);
  });
});
