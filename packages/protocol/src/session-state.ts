/**
 * Session state and its versioned serialisation, so the SDK can persist a session after every
 * call (docs/PROTOCOL.md §8). State objects are never mutated: every operation returns a new one,
 * which is what makes decryption transactional.
 *
 * Encoding: version=2 | flags u8 (1 = has remote ratchet key, 2 = has sending chain,
 * 4 = has receiving chain, 8 = has pending prekey prefix) | localIdentity[32] | remoteIdentity[32] |
 * baseKey[32] | rootKey[32] | ratchetPrivate[32] | ratchetPublic[32] | remoteRatchet[32]? |
 * (sendChainKey[32] | sendN u32)? | (recvChainKey[32] | recvN u32)? | pn u32 |
 * skippedCount u16 | skippedCount × (ratchetKey[32] | n u32 | messageKey[32]), oldest first |
 * pendingPrefix (u16 length)?
 */
import { toHex } from './bytes.js';
import { decodeWith, Writer } from './codec.js';
import { DecodeError } from './errors.js';
import { MAX_SKIPPED_KEYS } from './limits.js';
import type { KeyPair } from './primitives/types.js';

/** 2: sessions whose SK binds both parties' user and device (PQXDH §4.10); version-1 states (unbound) are refused. */
const STATE_VERSION = 2;
const HAS_REMOTE = 1;
const HAS_SEND = 2;
const HAS_RECV = 4;
const HAS_PENDING = 8;

export interface Chain {
  readonly key: Uint8Array;
  /** Number of the next message in this chain (Ns or Nr). */
  readonly n: number;
}

export interface SkippedKey {
  readonly ratchetKey: Uint8Array;
  readonly n: number;
  readonly messageKey: Uint8Array;
}

export interface SessionState {
  /** Our device's X25519 identity key (IK) and the peer device's. */
  readonly localIdentity: Uint8Array;
  readonly remoteIdentity: Uint8Array;
  /** The initiator's PQXDH ephemeral key: identifies the session on both sides. */
  readonly baseKey: Uint8Array;
  readonly rootKey: Uint8Array;
  /** DHs, DHr, CKs/Ns, CKr/Nr and PN of Double Ratchet rev. 3 §3.2. */
  readonly ratchet: KeyPair;
  readonly remoteRatchet: Uint8Array | null;
  readonly send: Chain | null;
  readonly recv: Chain | null;
  readonly pn: number;
  /** MKSKIPPED, keyed by skippedKeyId, in insertion order (oldest first, evicted first). */
  readonly skipped: ReadonlyMap<string, SkippedKey>;
  /** Initiator only, until the first reply arrives: the PreKeyMessage prefix to resend. */
  readonly pendingPreKey: Uint8Array | null;
}

export const skippedKeyId = (ratchetKey: Uint8Array, n: number): string => `${toHex(ratchetKey)}:${n}`;

export function serializeSession(s: SessionState): Uint8Array {
  const flags = (s.remoteRatchet ? HAS_REMOTE : 0) | (s.send ? HAS_SEND : 0) | (s.recv ? HAS_RECV : 0) | (s.pendingPreKey ? HAS_PENDING : 0);
  const size =
    2 +
    6 * 32 +
    (s.remoteRatchet ? 32 : 0) +
    (s.send ? 36 : 0) +
    (s.recv ? 36 : 0) +
    6 +
    s.skipped.size * 68 +
    (s.pendingPreKey ? 2 + s.pendingPreKey.length : 0);
  const w = new Writer(size).u8(STATE_VERSION).u8(flags);
  w.fixed(s.localIdentity, 32).fixed(s.remoteIdentity, 32).fixed(s.baseKey, 32).fixed(s.rootKey, 32);
  w.fixed(s.ratchet.privateKey, 32).fixed(s.ratchet.publicKey, 32);
  if (s.remoteRatchet) w.fixed(s.remoteRatchet, 32);
  if (s.send) w.fixed(s.send.key, 32).u32(s.send.n);
  if (s.recv) w.fixed(s.recv.key, 32).u32(s.recv.n);
  w.u32(s.pn).u16(s.skipped.size);
  for (const k of s.skipped.values()) w.fixed(k.ratchetKey, 32).u32(k.n).fixed(k.messageKey, 32);
  if (s.pendingPreKey) w.bytes16(s.pendingPreKey);
  return w.finish();
}

export function deserializeSession(bytes: Uint8Array): SessionState {
  // One copy of the input; every key is a view into it (the state shares nothing with `bytes`).
  return decodeWith(bytes instanceof Uint8Array ? bytes.slice() : bytes, 'session state', (r) => {
    r.version(STATE_VERSION);
    const flags = r.u8();
    if (flags & ~(HAS_REMOTE | HAS_SEND | HAS_RECV | HAS_PENDING)) throw new DecodeError('session state: unknown flags');
    const key = () => r.fixed(32);
    const localIdentity = key();
    const remoteIdentity = key();
    const baseKey = key();
    const rootKey = key();
    const ratchet = { privateKey: key(), publicKey: key() };
    const remoteRatchet = flags & HAS_REMOTE ? key() : null;
    const send = flags & HAS_SEND ? { key: key(), n: r.u32() } : null;
    const recv = flags & HAS_RECV ? { key: key(), n: r.u32() } : null;
    const pn = r.u32();
    const count = r.u16();
    if (count > MAX_SKIPPED_KEYS) throw new DecodeError('session state: too many skipped keys');
    const skipped = new Map<string, SkippedKey>();
    for (let i = 0; i < count; i++) {
      const ratchetKey = key();
      const n = r.u32();
      const id = skippedKeyId(ratchetKey, n);
      if (skipped.has(id)) throw new DecodeError('session state: duplicate skipped key');
      skipped.set(id, { ratchetKey, n, messageKey: key() });
    }
    const pendingPreKey = flags & HAS_PENDING ? r.bytes16() : null;
    return { localIdentity, remoteIdentity, baseKey, rootKey, ratchet, remoteRatchet, send, recv, pn, skipped, pendingPreKey };
  });
}
