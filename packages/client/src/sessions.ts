/**
 * Sessions per peer device, kept in the profile's `state` record as serializeSession bytes.
 *
 * Each peer device has a current session (used for sending) and up to LIMITS.previousSessions
 * older ones, still tried when decrypting: when both sides start a session at the same time, each
 * accepts the other's, and messages of either may still be in flight (Sesame §3: a device keeps
 * inactive sessions and moves one to the front when a message decrypts with it).
 */
import { deserializeSession, equal, type SessionState, serializeSession } from '@blindrelay/protocol';
import { LIMITS, type SessionEntry, type StateRecord, sessionKey } from './profile.js';

export function sessionsOf(state: StateRecord, user: string, deviceId: number): SessionState[] {
  const e = state.sessions.get(sessionKey(user, deviceId));
  if (!e) return [];
  return [e.current, ...e.previous].map((b) => deserializeSession(b));
}

export function currentSession(state: StateRecord, user: string, deviceId: number): SessionState | undefined {
  const e = state.sessions.get(sessionKey(user, deviceId));
  return e ? deserializeSession(e.current) : undefined;
}

/**
 * Store `session` as the current session with the device: it replaces the stored session with the
 * same base key (an advanced copy), and any other current session moves to `previous`.
 */
export function putSession(state: StateRecord, user: string, deviceId: number, session: SessionState): void {
  const key = sessionKey(user, deviceId);
  const bytes = serializeSession(session);
  const old = state.sessions.get(key);
  if (!old) {
    state.sessions.set(key, { current: bytes, previous: [] });
    return;
  }
  const others = [old.current, ...old.previous].filter((b) => !equal(deserializeSession(b).baseKey, session.baseKey));
  const entry: SessionEntry = { current: bytes, previous: others.slice(0, LIMITS.previousSessions) };
  state.sessions.set(key, entry);
}

export function dropSession(state: StateRecord, user: string, deviceId: number): boolean {
  return state.sessions.delete(sessionKey(user, deviceId));
}

/** Drop every session with `user` whose device is not in `keep` (device id → identity key). */
export function pruneSessions(state: StateRecord, user: string, keep: ReadonlyMap<number, Uint8Array> | null): number {
  let dropped = 0;
  const prefix = `${user}/`;
  for (const [key, entry] of [...state.sessions]) {
    if (!key.startsWith(prefix)) continue;
    const deviceId = Number(key.slice(prefix.length));
    const identity = keep?.get(deviceId);
    if (!identity || !equal(deserializeSession(entry.current).remoteIdentity, identity)) {
      state.sessions.delete(key);
      dropped++;
    }
  }
  return dropped;
}
