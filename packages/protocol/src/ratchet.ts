/**
 * The Double Ratchet (Signal's specification, rev. 3, 2025-11-04, §3 "Double Ratchet" with the
 * bounds of §6.4 "Deletion of skipped message keys" and the recommended KDFs of §5.2).
 *
 * Pure functions over immutable SessionState values: a failed decryption throws before anything
 * is returned, so the caller's state is untouched (transactional decryption).
 */
import { concat, equal, utf8 } from './bytes.js';
import { DecryptError, InvalidArgumentError } from './errors.js';
import { MAX_PLAINTEXT_BYTES, MAX_SKIP, MAX_SKIPPED_KEYS } from './limits.js';
import { encodeRatchetHeader, type RatchetMessage } from './message.js';
import { paddingFor, unpad } from './padding.js';
import type { Primitives } from './primitives/types.js';
import { type Chain, type SessionState, type SkippedKey, skippedKeyId } from './session-state.js';
import { dh, generateX25519 } from './x25519.js';

/** §5.2 KDF_RK: HKDF-SHA-256 with salt = RK, input key material = DH output, 64 bytes out. */
export const KDF_RK_INFO = utf8('Blindrelay_DoubleRatchet_RootKey');
/** §5.2 KDF_CK: HMAC-SHA-256 with CK as key; 0x01 gives the message key, 0x02 the next chain key. */
const MESSAGE_KEY_CONSTANT = Uint8Array.of(0x01);
const CHAIN_KEY_CONSTANT = Uint8Array.of(0x02);
/** §5.2 ENCRYPT: HKDF(mk, salt = 0^32, info) → 32-byte AES-256-GCM key and 12-byte nonce. */
export const MESSAGE_KEYS_INFO = utf8('Blindrelay_DoubleRatchet_MessageKeys');
const ZERO_SALT = new Uint8Array(32);

export async function kdfRk(p: Primitives, rootKey: Uint8Array, dhOut: Uint8Array): Promise<{ rootKey: Uint8Array; chainKey: Uint8Array }> {
  const out = await p.hkdfSha256(dhOut, rootKey, KDF_RK_INFO, 64);
  return { rootKey: out.slice(0, 32), chainKey: out.slice(32, 64) };
}

export async function kdfCk(p: Primitives, chainKey: Uint8Array): Promise<{ chainKey: Uint8Array; messageKey: Uint8Array }> {
  const messageKey = await p.hmacSha256(chainKey, MESSAGE_KEY_CONSTANT);
  return { chainKey: await p.hmacSha256(chainKey, CHAIN_KEY_CONSTANT), messageKey };
}

export async function messageKeys(p: Primitives, messageKey: Uint8Array): Promise<{ key: Uint8Array; nonce: Uint8Array }> {
  const out = await p.hkdfSha256(messageKey, ZERO_SALT, MESSAGE_KEYS_INFO, 44);
  return { key: out.subarray(0, 32), nonce: out.subarray(32, 44) };
}

/**
 * The associated data of every message: the sender's and receiver's device identity keys
 * (type-tagged), then — for a PreKeyMessage — every byte of its PQXDH prefix, then the encoded
 * header, which itself starts with the protocol version. Binding the prefix means no field of a
 * PreKeyMessage can be changed, even when it belongs to a session the receiver already has.
 */
export const associatedData = (sender: Uint8Array, receiver: Uint8Array, headerBytes: Uint8Array, prefix?: Uint8Array) =>
  prefix
    ? concat(Uint8Array.of(0x05), sender, Uint8Array.of(0x05), receiver, prefix, headerBytes)
    : concat(Uint8Array.of(0x05), sender, Uint8Array.of(0x05), receiver, headerBytes);

/**
 * §3.4 RatchetEncrypt. Returns the wire message: `prefix` (the PreKeyMessage fields while the
 * session is unacknowledged), the header, then the sealed padded plaintext.
 */
export async function ratchetEncrypt(
  p: Primitives,
  s: SessionState,
  plaintext: Uint8Array,
  prefix?: Uint8Array,
): Promise<{ state: SessionState; message: Uint8Array }> {
  if (!s.send) throw new InvalidArgumentError('session cannot send before it has received');
  if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new InvalidArgumentError(`plaintext larger than ${MAX_PLAINTEXT_BYTES} bytes`);
  if (s.send.n >= 0xffffffff) throw new InvalidArgumentError('sending chain exhausted');
  const { chainKey, messageKey } = await kdfCk(p, s.send.key);
  const headerBytes = encodeRatchetHeader({ ratchetKey: s.ratchet.publicKey, pn: s.pn, n: s.send.n });
  const { key, nonce } = await messageKeys(p, messageKey);
  const ad = associatedData(s.localIdentity, s.remoteIdentity, headerBytes, prefix);
  const headroom = (prefix?.length ?? 0) + headerBytes.length;
  const message = await p.aesGcmSeal(key, nonce, [plaintext, paddingFor(plaintext.length)], ad, headroom);
  if (prefix) message.set(prefix, 0);
  message.set(headerBytes, headroom - headerBytes.length);
  return { state: { ...s, send: { key: chainKey, n: s.send.n + 1 } }, message };
}

async function open(p: Primitives, s: SessionState, messageKey: Uint8Array, m: RatchetMessage, prefix: Uint8Array | undefined): Promise<Uint8Array> {
  const { key, nonce } = await messageKeys(p, messageKey);
  const padded = await p.aesGcmOpen(key, nonce, m.sealed, associatedData(s.remoteIdentity, s.localIdentity, m.headerBytes, prefix));
  const plaintext = padded && unpad(padded);
  if (!plaintext) throw new DecryptError();
  return plaintext;
}

/**
 * §3.5 SkipMessageKeys: derive and store the keys of messages [chain.n, until) of the receiving
 * chain. The bound is checked before any key is derived, so a header claiming a huge counter costs
 * nothing. Returns the advanced chain and the new skipped-key map (oldest evicted past the cap).
 */
async function skipMessageKeys(
  p: Primitives,
  chain: Chain | null,
  ratchetKey: Uint8Array | null,
  until: number,
  skipped: ReadonlyMap<string, SkippedKey>,
): Promise<{ chain: Chain | null; skipped: ReadonlyMap<string, SkippedKey> }> {
  if (!chain || !ratchetKey || until <= chain.n) return { chain, skipped };
  if (until - chain.n > MAX_SKIP) throw new DecryptError();
  const next = new Map(skipped);
  let key = chain.key;
  for (let n = chain.n; n < until; n++) {
    const step = await kdfCk(p, key);
    next.set(skippedKeyId(ratchetKey, n), { ratchetKey, n, messageKey: step.messageKey });
    key = step.chainKey;
  }
  for (const id of next.keys()) {
    if (next.size <= MAX_SKIPPED_KEYS) break;
    next.delete(id); // §6.4: evict the oldest stored keys first
  }
  return { chain: { key, n: until }, skipped: next };
}

/**
 * §3.5 RatchetDecrypt, with §3.5 DHRatchet inlined. `prefix` is the PQXDH prefix when the message
 * arrived inside a PreKeyMessage. Throws DecryptError on any failure.
 */
export async function ratchetDecrypt(
  p: Primitives,
  s: SessionState,
  m: RatchetMessage,
  prefix?: Uint8Array,
): Promise<{ state: SessionState; plaintext: Uint8Array }> {
  const h = m.header;
  // TrySkippedMessageKeys
  if (s.skipped.size > 0) {
    const id = skippedKeyId(h.ratchetKey, h.n);
    const found = s.skipped.get(id);
    if (found) {
      const plaintext = await open(p, s, found.messageKey, m, prefix);
      const skipped = new Map(s.skipped);
      skipped.delete(id);
      return { state: { ...s, skipped }, plaintext };
    }
  }
  let state = s;
  if (!s.remoteRatchet || !equal(h.ratchetKey, s.remoteRatchet)) {
    // A new ratchet key: finish the current receiving chain up to PN, then step the DH ratchet.
    const done = await skipMessageKeys(p, s.recv, s.remoteRatchet, h.pn, s.skipped);
    const pn = s.send ? s.send.n : 0;
    let dhOut: Uint8Array;
    try {
      dhOut = await dh(p, s.ratchet.privateKey, h.ratchetKey);
    } catch {
      throw new DecryptError();
    }
    const recvStep = await kdfRk(p, s.rootKey, dhOut);
    const ratchet = await generateX25519(p);
    const sendStep = await kdfRk(p, recvStep.rootKey, await dh(p, ratchet.privateKey, h.ratchetKey));
    state = {
      ...s,
      pn,
      ratchet,
      remoteRatchet: h.ratchetKey.slice(),
      rootKey: sendStep.rootKey,
      recv: { key: recvStep.chainKey, n: 0 },
      send: { key: sendStep.chainKey, n: 0 },
      skipped: done.skipped,
    };
  } else if (!s.recv || h.n < s.recv.n) {
    // No receiving chain for this key yet (a forged header naming our peer's prekey), or an old
    // message of this chain whose key is not stored: a duplicate or a replay.
    throw new DecryptError();
  }
  const advanced = await skipMessageKeys(p, state.recv, state.remoteRatchet, h.n, state.skipped);
  const chain = advanced.chain as Chain;
  const { chainKey, messageKey } = await kdfCk(p, chain.key);
  const next: SessionState = { ...state, recv: { key: chainKey, n: chain.n + 1 }, skipped: advanced.skipped };
  return { state: next, plaintext: await open(p, next, messageKey, m, prefix) };
}
