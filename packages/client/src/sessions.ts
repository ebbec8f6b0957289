/**
 * Sessions per peer device, one profile record each (`session-N`, named by the `sessions` index),
 * as serializeSession bytes.
 *
 * Each peer device has a current session (used for sending) and up to LIMITS.previousSessions
 * older ones, still tried when decrypting: when both sides start a session at the same time, each
 * accepts the other's, and messages of either may still be in flight (Sesame §3: a device keeps
 * inactive sessions and moves one to the front when a message decrypts with it).
 *
 * Session states are immutable (session-state.ts), so the state deserialized from a stored entry is
 * remembered with it and reused until the entry is replaced.
 */
import { deserializeSession, equal, type SessionState, serializeSession } from '@blindrelay/protocol';
import { LIMITS, type StoredSession, sessionKey, type Transaction } from './profile.js';

/** States deserialized from stored entries read from the profile (those made by `store` carry their own). */
const states = new WeakMap<StoredSession, SessionState>();

/**
 * The stored form of a session state made here: its bytes are serialized when first read (the
 * profile codec, at flush): a batch advances a session once per message, and only the last state
 * is written. It carries its state, so reading it back costs no lookup (a WeakMap entry per
 * message was measurable garbage-collector work in the relay bench).
 */
class Stored implements StoredSession {
  readonly baseKey: Uint8Array;
  readonly remoteIdentity: Uint8Array;
  readonly state: SessionState;
  #bytes: Uint8Array | undefined;
  constructor(state: SessionState) {
    this.baseKey = state.baseKey;
    this.remoteIdentity = state.remoteIdentity;
    this.state = state;
    Object.freeze(this);
  }
  get bytes(): Uint8Array {
    this.#bytes ??= serializeSession(this.state);
    return this.#bytes;
  }
}

function stateOf(stored: StoredSession): SessionState {
  if (stored instanceof Stored) return stored.state;
  let s = states.get(stored);
  if (!s) {
    s = deserializeSession(stored.bytes);
    states.set(stored, s);
  }
  return s;
}

const store = (session: SessionState): StoredSession => new Stored(session);

export async function sessionsOf(tx: Transaction, user: string, deviceId: number): Promise<SessionState[]> {
  const e = await tx.session(sessionKey(user, deviceId));
  return e ? [e.current, ...e.previous].map(stateOf) : [];
}

export async function currentSession(tx: Transaction, user: string, deviceId: number): Promise<SessionState | undefined> {
  const e = await tx.session(sessionKey(user, deviceId));
  return e ? stateOf(e.current) : undefined;
}

/**
 * Store `session` as the current session with the device: it replaces the stored session with the
 * same base key (an advanced copy), and any other current session moves to `previous`.
 */
export async function putSession(tx: Transaction, user: string, deviceId: number, session: SessionState): Promise<void> {
  const key = sessionKey(user, deviceId);
  const current = store(session);
  const old = await tx.session(key);
  const others = old ? [old.current, ...old.previous].filter((s) => !equal(s.baseKey, session.baseKey)) : [];
  tx.setSession(key, { current, previous: others.slice(0, LIMITS.previousSessions) });
}

/** Drop every session with `user` whose device is not in `keep` (device id → identity key). */
export async function pruneSessions(tx: Transaction, user: string, keep: ReadonlyMap<number, Uint8Array> | null): Promise<number> {
  let dropped = 0;
  const prefix = `${user}/`;
  for (const key of await tx.sessionKeys()) {
    if (!key.startsWith(prefix)) continue;
    const deviceId = Number(key.slice(prefix.length));
    const identity = keep?.get(deviceId);
    const entry = identity ? await tx.session(key) : undefined;
    if (!identity || !entry || !equal(entry.current.remoteIdentity, identity)) {
      tx.setSession(key, undefined);
      dropped++;
    }
  }
  return dropped;
}

/** Drop every stored session (a profile whose sessions predate identity-bound ones, profile-migration.ts). */
export async function dropAllSessions(tx: Transaction): Promise<number> {
  const keys = await tx.sessionKeys();
  for (const key of keys) tx.setSession(key, undefined);
  return keys.length;
}
