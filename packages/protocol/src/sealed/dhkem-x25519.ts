/**
 * DHKEM(X25519, HKDF-SHA256), RFC 9180 §4.1 (KEM id 0x0020, §7.1), and the single-shot base-mode
 * HPKE built on it (§6.1 SealBase / OpenBase) with KDF HKDF-SHA256 (0x0001) and AEAD
 * ChaCha20Poly1305 (0x0003): the outer layer of a sealed-sender envelope (docs/PROTOCOL.md §20.2).
 *
 * X25519 and ChaCha20-Poly1305 come from the Primitives interface, HKDF Extract/Expand and SHA-256
 * from @noble/hashes; the key schedule is age/hpke.ts's (the same RFC 9180 §5.1 code, keyed by the
 * KEM id). Checked against RFC 9180 Appendix A.2.1 (test/hpke-vectors.test.ts).
 */
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { hpkeOpenBase, hpkeSealBase } from '../age/hpke.js';
import { concat, utf8 } from '../bytes.js';
import { InvalidKeyError } from '../errors.js';
import type { Primitives } from '../primitives/types.js';
import { assertX25519PublicKey, dh, ephemeralDh } from '../x25519.js';

/** RFC 9180 §7.1: DHKEM(X25519, HKDF-SHA256). Nsecret = 32, Nenc = Npk = Nsk = 32. */
export const HPKE_KEM_X25519_HKDF_SHA256 = 0x0020;
const N_SECRET = 32;
export const DHKEM_X25519_ENC_BYTES = 32;
const VERSION_LABEL = utf8('HPKE-v1');
const EMPTY = new Uint8Array(0);
/** RFC 9180 §4.1: suite_id = concat("KEM", I2OSP(kem_id, 2)). */
const KEM_SUITE_ID = concat(utf8('KEM'), Uint8Array.of(HPKE_KEM_X25519_HKDF_SHA256 >>> 8, HPKE_KEM_X25519_HKDF_SHA256 & 0xff));

/**
 * RFC 9180 §4.1 ExtractAndExpand(dh, kem_context):
 *   eae_prk = LabeledExtract("", "eae_prk", dh)
 *   shared_secret = LabeledExpand(eae_prk, "shared_secret", kem_context, Nsecret)
 */
function extractAndExpand(dhOut: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = extract(sha256, concat(VERSION_LABEL, KEM_SUITE_ID, utf8('eae_prk'), dhOut), EMPTY);
  const info = concat(Uint8Array.of(0, N_SECRET), VERSION_LABEL, KEM_SUITE_ID, utf8('shared_secret'), kemContext);
  return expand(sha256, eaePrk, info, N_SECRET);
}

/**
 * RFC 9180 §4.1 Encap(pkR) with the ephemeral private key given (`skE`: random in use, fixed by
 * the test vectors): dh = DH(skE, pkR), enc = pkE, kem_context = enc || pkR. DH refuses a
 * small-order pkR and an all-zero output (§7.1.4 "validation of inputs and outputs").
 */
export async function dhkemEncap(p: Primitives, pkR: Uint8Array, skE: Uint8Array): Promise<{ sharedSecret: Uint8Array; enc: Uint8Array }> {
  assertX25519PublicKey(pkR, 'HPKE recipient key');
  // One import of skE for its public key and the DH, kept by no cache (as PQXDH's EK: x25519.ts ephemeralDh).
  const { publicKey: enc, shared } = await ephemeralDh(p, skE, [pkR]);
  return { sharedSecret: extractAndExpand(shared[0] as Uint8Array, concat(enc, pkR)), enc };
}

/** RFC 9180 §4.1 Decap(enc, skR): dh = DH(skR, pkE), kem_context = enc || pkRm. */
export async function dhkemDecap(p: Primitives, enc: Uint8Array, skR: Uint8Array, pkR: Uint8Array): Promise<Uint8Array> {
  if (enc.length !== DHKEM_X25519_ENC_BYTES) throw new InvalidKeyError('HPKE enc: wrong length');
  const dhOut = await dh(p, skR, enc);
  return extractAndExpand(dhOut, concat(enc, pkR));
}

/** RFC 9180 §6.1 SealBase(pkR, info, aad, pt) for this suite; `skE` as for dhkemEncap. */
export async function hpkeSealX25519(
  p: Primitives,
  pkR: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  skE: Uint8Array = p.randomBytes(32),
): Promise<{ enc: Uint8Array; ciphertext: Uint8Array }> {
  const { sharedSecret, enc } = await dhkemEncap(p, pkR, skE);
  const ciphertext = await hpkeSealBase(p, HPKE_KEM_X25519_HKDF_SHA256, sharedSecret, info, aad, plaintext);
  return { enc, ciphertext };
}

/** RFC 9180 §6.1 OpenBase(enc, skR, info, aad, ct); null when the enc or the AEAD tag is bad. */
export async function hpkeOpenX25519(
  p: Primitives,
  enc: Uint8Array,
  skR: Uint8Array,
  pkR: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Promise<Uint8Array | null> {
  let sharedSecret: Uint8Array;
  try {
    sharedSecret = await dhkemDecap(p, enc, skR, pkR);
  } catch {
    return null;
  }
  return hpkeOpenBase(p, HPKE_KEM_X25519_HKDF_SHA256, sharedSecret, info, aad, ciphertext);
}
