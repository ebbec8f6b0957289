/**
 * The MLS cipher suite of Blindrelay groups (docs/DECISIONS.md, docs/PROTOCOL.md §22):
 * MLS_256_XWING_AES256GCM_SHA512_Ed25519 (0x0053): X-Wing KEM, AES-256-GCM, HKDF-SHA512, SHA-512,
 * Ed25519. Its implementation (xwing-suite.ts) is made from its parts, without ts-mls's default
 * provider (it would bring every other suite's code into a browser bundle): the KEM ours
 * (xwing-kem.ts: X-Wing on node:crypto or @noble/post-quantum), hash, MAC, KDF and AEAD the
 * synchronous ones of `@blindrelay/protocol/groups` mls-primitives.ts, signatures through WebCrypto.
 * Other suites (interop vectors, benchmarks) go through the provider.
 */
import { CipherSuite } from '@hpke/core';
import {
  type Ciphersuite,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type CryptoProvider,
  defaultCryptoProvider,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from 'ts-mls';
import { makeAead } from 'ts-mls/crypto/implementation/default/makeAead.js';
import { makeKdf } from 'ts-mls/crypto/implementation/default/makeKdfImpl.js';
import { makeGenericHpke } from 'ts-mls/crypto/implementation/hpke.js';
import { XWingKem } from './xwing-kem.js';
import { xwingSuiteImpl } from './xwing-suite.js';

export const GROUP_SUITE_NAME: CiphersuiteName = 'MLS_256_XWING_AES256GCM_SHA512_Ed25519';

/** ts-mls's default provider with X-Wing's KEM replaced by XWingKem. */
export const groupCryptoProvider: CryptoProvider = {
  async getCiphersuiteImpl(cs: Ciphersuite): Promise<CiphersuiteImpl> {
    if (cs.name === GROUP_SUITE_NAME) return xwingSuiteImpl(cs);
    if (cs.hpke.kem !== 'X-Wing') return defaultCryptoProvider.getCiphersuiteImpl(cs);
    const base = await defaultCryptoProvider.getCiphersuiteImpl({ ...cs, hpke: { ...cs.hpke, kem: 'DHKEM-X25519-HKDF-SHA256' } });
    const [aead, aeadInterface] = await makeAead(cs.hpke.aead);
    const suite = new CipherSuite({ kem: new XWingKem(), kdf: makeKdf(cs.hpke.kdf), aead: aeadInterface });
    return { ...base, hpke: await makeGenericHpke(cs.hpke, aead, suite), name: cs.name };
  },
};

let cached: Promise<CiphersuiteImpl> | undefined;
/** The implementation of GROUP_SUITE_NAME (made once). */
export function groupSuite(): Promise<CiphersuiteImpl> {
  cached ??= xwingSuiteImpl(getCiphersuiteFromName(GROUP_SUITE_NAME));
  return cached;
}

/** Any suite by name through the same provider (benchmarks, interop vectors). */
export function suiteByName(name: CiphersuiteName): Promise<CiphersuiteImpl> {
  return getCiphersuiteImpl(getCiphersuiteFromName(name), groupCryptoProvider);
}
