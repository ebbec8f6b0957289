/**
 * The one-time prekey top-up, off the first screen's path. A new account or linked browser
 * publishes a short supply (SHORT_ONE_TIME_PREKEY_SUPPLY of each kind, welcome-view.ts: ML-KEM-768
 * key generation is pure JavaScript in browsers, and 100 of them were the largest part of account
 * creation); this brings both kinds to ONE_TIME_PREKEY_TARGET once the app has shown and the page
 * is idle, and does so at every start (a tab closed before it ran is topped up next time; a full
 * supply costs one status request). Sends never wait for it: the SDK generates the keys outside
 * the profile lock, and a first contact works with no one-time prekey at all (docs/PROTOCOL.md §6.1).
 */
import type { BlindrelayClient } from '@blindrelay/client';

/** The top-up starts this long after the app shows, at the next idle period (at the latest IDLE_TIMEOUT_MS later). */
const TOP_UP_AFTER_MS = 3000;
const IDLE_TIMEOUT_MS = 3000;

/** requestIdleCallback where the browser has it (not every browser does), else the next task. */
const whenIdle = (fn: () => void): (() => void) => {
  if (typeof requestIdleCallback === 'function') {
    const id = requestIdleCallback(fn, { timeout: IDLE_TIMEOUT_MS });
    return () => cancelIdleCallback(id);
  }
  const id = setTimeout(fn, 0);
  return () => clearTimeout(id);
};

export interface PreKeyTopUp {
  stop(): void;
}

export function schedulePreKeyTopUp(client: BlindrelayClient, onDone: (uploaded: number) => void, onError: (e: Error) => void): PreKeyTopUp {
  let stopped = false;
  let cancelIdle: (() => void) | undefined;
  const timer = setTimeout(() => {
    cancelIdle = whenIdle(() => {
      if (stopped) return;
      client.replenishPreKeys(true).then(
        (r) => onDone(r.oneTime + r.pq),
        (e: Error) => onError(e),
      );
    });
  }, TOP_UP_AFTER_MS);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      cancelIdle?.();
    },
  };
}
