/**
 * Decoded group states kept in memory per open profile (docs/DECISIONS.md "Group states kept
 * decoded"): decoding a 1,000-member state costs more than a commit, and one group operation reads
 * the state several times (sync, commit, the files that follow the group). A kept state is served
 * only for exactly the bytes it was decoded from or encoded to: the caller passes the bytes it just
 * read from the profile store, so a state written since by another process (or another client on
 * the same profile) does not match and is decoded afresh. Nothing here is written anywhere.
 */
import { equal } from '@blindrelay/protocol';
import type { ClientState } from 'ts-mls';
import type { Profile } from '../profile.js';
import type { DeviceVerifier } from './credential.js';
import { clientConfig, decodeState, encodeState } from './group-state.js';

interface Kept {
  readonly bytes: Uint8Array;
  readonly state: ClientState;
}

export class GroupStateCache {
  readonly #kept = new Map<string, Kept>();
  /** How many reads were served without decoding (tests, benchmarks). */
  hits = 0;

  /** The state stored as `bytes` for group `id`, checked by `verify` (the caller's operation's device lists). */
  decode(id: string, bytes: Uint8Array, verify: DeviceVerifier): ClientState {
    const kept = this.#kept.get(id);
    if (kept && equal(kept.bytes, bytes)) {
      this.hits++;
      return { ...kept.state, clientConfig: clientConfig(verify) };
    }
    const state = decodeState(bytes, verify);
    this.#kept.set(id, { bytes, state });
    return state;
  }

  /** The bytes to store for `state`; the state is kept for them. */
  encode(id: string, state: ClientState): Uint8Array {
    const bytes = encodeState(state);
    this.#kept.set(id, { bytes, state });
    return bytes;
  }

  forget(id: string): void {
    this.#kept.delete(id);
  }
}

const caches = new WeakMap<Profile, GroupStateCache>();

/** The cache of one open profile (the same for every operation on it, gone with it). */
export function groupStateCache(profile: Profile): GroupStateCache {
  let cache = caches.get(profile);
  if (!cache) {
    cache = new GroupStateCache();
    caches.set(profile, cache);
  }
  return cache;
}
