/**
 * Which Node runs the relay in tests. The relay needs node:sqlite (Node ≥ 22.13; the platform is
 * Node 24); the SDK and CLI tests also run on the system Node 20 (CI's second pass), where a relay
 * they need is started on the repository's pinned Node instead, as a user's would run apart anyway.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** True when this Node can run the relay in-process. */
export function canRunRelay(): boolean {
  const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  return typeof getBuiltin === 'function' && getBuiltin('node:sqlite') !== undefined;
}

/** The Node that runs the relay: this one when it can, else BLINDRELAY_RELAY_NODE or the repository's pinned Node 24. */
export function relayNode(): string {
  if (canRunRelay()) return process.execPath;
  const node = process.env.BLINDRELAY_RELAY_NODE || `${ROOT}node_modules/.bin/node`;
  if (!existsSync(node))
    throw new Error(`this Node (${process.version}) cannot run the relay and ${node} does not exist: run npm ci, or set BLINDRELAY_RELAY_NODE`);
  return node;
}
