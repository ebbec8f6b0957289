/** The parts of suite 0x0053 made outside ts-mls's provider (src/groups/xwing-suite.ts). */
import { getCiphersuiteFromName } from 'ts-mls';
import { describe, expect, it } from 'vitest';
import { GROUP_SUITE_NAME } from '../../src/groups/ciphersuite.js';
import { ed25519Signature, xwingSuiteImpl } from '../../src/groups/xwing-suite.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
// RFC 8032 §7.1, TEST 1 (empty message).
const SEED = hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
const PUBLIC = hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
const SIG = hex('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');

describe('suite 0x0053 from its parts', () => {
  it('Ed25519 signs a 32-byte seed as RFC 8032 TEST 1, and verifies only the right signature', async () => {
    expect(Buffer.from(await ed25519Signature.sign(SEED, new Uint8Array(0))).toString('hex')).toBe(Buffer.from(SIG).toString('hex'));
    expect(await ed25519Signature.verify(PUBLIC, new Uint8Array(0), SIG)).toBe(true);
    const bad = SIG.slice();
    bad[0] = (bad[0] as number) ^ 1;
    expect(await ed25519Signature.verify(PUBLIC, new Uint8Array(0), bad)).toBe(false);
    // A generated key (PKCS #8 form) signs what its public key verifies.
    const k = await ed25519Signature.keygen();
    const msg = new TextEncoder().encode('m');
    expect(await ed25519Signature.verify(k.publicKey, msg, await ed25519Signature.sign(k.signKey, msg))).toBe(true);
  });

  it('makes 0x0053 and refuses any other suite', async () => {
    const cs = await xwingSuiteImpl(getCiphersuiteFromName(GROUP_SUITE_NAME));
    expect(cs.name).toBe(GROUP_SUITE_NAME);
    expect(cs.kdf.size).toBe(64);
    await expect(xwingSuiteImpl(getCiphersuiteFromName('MLS_256_XWING_CHACHA20POLY1305_SHA512_Ed25519'))).rejects.toThrow(/not MLS_256_XWING_AES256GCM/);
  });
});
