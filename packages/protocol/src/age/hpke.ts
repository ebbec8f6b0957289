/**
 * HPKE (RFC 9180) base mode, single shot, for one fixed suite: the key schedule on top of a KEM's
 * shared secret, with KDF HKDF-SHA256 and AEAD ChaCha20Poly1305. Only what age's HPKE-based
 * recipient types need (age.md "mlkem768x25519 recipient stanza": SealBase / OpenBase); the KEM
 * itself is the caller's (Encap/Decap produce `enc` and `shared_secret`).
 *
 * HKDF Extract/Expand and SHA-256 come from @noble/hashes, the AEAD from the Primitives
 * interface: this module only arranges their inputs as RFC 9180 prescribes.
 */
import { expand, extract } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concat, utf8, wipe } from '../bytes.js';
import type { Primitives } from '../primitives/types.js';

/** RFC 9180 §7.2 (HKDF-SHA256) and §7.3 (ChaCha20Poly1305) identifiers. */
export const HPKE_KDF_HKDF_SHA256 = 0x0001;
export const HPKE_AEAD_CHACHA20POLY1305 = 0x0003;
/** RFC 9180 §7.3: ChaCha20Poly1305 Nk = 32, Nn = 12, Nt = 16. */
const NK = 32;
const NN = 12;
/** RFC 9180 §5: mode_base. */
const MODE_BASE = 0x00;
const EMPTY = new Uint8Array(0);
const VERSION_LABEL = utf8('HPKE-v1');

/** I2OSP(n, 2) (RFC 9180 §3, from RFC 8017): big-endian, two bytes. */
function i2osp2(n: number): Uint8Array {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

/** RFC 9180 §5.1: suite_id = concat("HPKE", I2OSP(kem_id, 2), I2OSP(kdf_id, 2), I2OSP(aead_id, 2)). */
function hpkeSuiteId(kemId: number): Uint8Array {
  return concat(utf8('HPKE'), i2osp2(kemId), i2osp2(HPKE_KDF_HKDF_SHA256), i2osp2(HPKE_AEAD_CHACHA20POLY1305));
}

/** RFC 9180 §4: LabeledExtract(salt, label, ikm) = Extract(salt, concat("HPKE-v1", suite_id, label, ikm)). */
function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, concat(VERSION_LABEL, suiteId, utf8(label), ikm), salt);
}

/**
 * RFC 9180 §4: LabeledExpand(prk, label, info, L) =
 * Expand(prk, concat(I2OSP(L, 2), "HPKE-v1", suite_id, label, info), L).
 */
function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  return expand(sha256, prk, concat(i2osp2(length), VERSION_LABEL, suiteId, utf8(label), info), length);
}

/**
 * psk_id_hash = LabeledExtract("", "psk_id_hash", "") in mode_base depends on the suite alone:
 * computed once per KEM id. (info_hash is not kept: `info` may name a recipient, as the sealed
 * envelope's does, and a process-wide memory of recipients is not worth one HKDF call.)
 */
const PSK_ID_HASHES = new Map<number, Uint8Array>();
function keyScheduleContext(kemId: number, suiteId: Uint8Array, info: Uint8Array): Uint8Array {
  let pskIdHash = PSK_ID_HASHES.get(kemId);
  if (!pskIdHash) {
    pskIdHash = labeledExtract(suiteId, EMPTY, 'psk_id_hash', EMPTY);
    PSK_ID_HASHES.set(kemId, pskIdHash);
  }
  const infoHash = labeledExtract(suiteId, EMPTY, 'info_hash', info);
  return concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
}

/**
 * RFC 9180 §5.1 KeySchedule for mode_base (psk = psk_id = ""): the AEAD key and base_nonce. The
 * exporter secret is not derived (no exports are used).
 *
 *     psk_id_hash = LabeledExtract("", "psk_id_hash", psk_id)
 *     info_hash   = LabeledExtract("", "info_hash", info)
 *     key_schedule_context = concat(mode, psk_id_hash, info_hash)
 *     secret      = LabeledExtract(shared_secret, "secret", psk)
 *     key         = LabeledExpand(secret, "key", key_schedule_context, Nk)
 *     base_nonce  = LabeledExpand(secret, "base_nonce", key_schedule_context, Nn)
 */
export function hpkeKeyScheduleBase(kemId: number, sharedSecret: Uint8Array, info: Uint8Array): { key: Uint8Array; baseNonce: Uint8Array } {
  const suiteId = hpkeSuiteId(kemId);
  const context = keyScheduleContext(kemId, suiteId, info);
  const secret = labeledExtract(suiteId, sharedSecret, 'secret', EMPTY);
  const key = labeledExpand(suiteId, secret, 'key', context, NK);
  const baseNonce = labeledExpand(suiteId, secret, 'base_nonce', context, NN);
  wipe(secret);
  return { key, baseNonce };
}

/**
 * RFC 9180 §6.1 single-shot SealBase after Encap: the first message of the context, so
 * sequence number 0 and nonce = base_nonce XOR I2OSP(0, Nn) = base_nonce (§5.2 ComputeNonce).
 */
export async function hpkeSealBase(
  p: Primitives,
  kemId: number,
  sharedSecret: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Promise<Uint8Array> {
  const { key, baseNonce } = hpkeKeyScheduleBase(kemId, sharedSecret, info);
  try {
    return await p.chacha20Poly1305Seal(key, baseNonce, plaintext, aad);
  } finally {
    wipe(key);
  }
}

/** RFC 9180 §6.1 single-shot OpenBase after Decap (sequence 0); null when the AEAD tag fails. */
export async function hpkeOpenBase(
  p: Primitives,
  kemId: number,
  sharedSecret: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Promise<Uint8Array | null> {
  const { key, baseNonce } = hpkeKeyScheduleBase(kemId, sharedSecret, info);
  try {
    return await p.chacha20Poly1305Open(key, baseNonce, ciphertext, aad);
  } finally {
    wipe(key);
  }
}
