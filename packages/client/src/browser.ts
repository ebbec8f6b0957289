/**
 * Browser defaults: profiles in IndexedDB (storage/indexeddb.ts, sealed under a non-extractable
 * WebCrypto key), WebCrypto + @noble primitives, the built-in WebSocket for the push channel.
 * The counterpart of node.ts; used by the web app (apps/web).
 */
import { createWebPrimitives } from '@blindrelay/protocol/web';
import type { ClientEnvironment } from './client.js';
import { browserSealedSocketFactory, browserSocketFactory } from './socket.js';
import { IndexedDbStorage } from './storage/indexeddb.js';

export { IndexedDbStorage, type IndexedDbStorageOptions } from './storage/indexeddb.js';

export interface BrowserProfileOptions {
  /** The profile's name (one IndexedDB database each); default `default`. */
  profile?: string;
  /** Encrypts the profile at rest under Argon2id of this passphrase (vault.ts), on top of the wrap key. */
  passphrase?: string | undefined;
  onWarning?: (message: string) => void;
}

export function browserEnvironment(options: BrowserProfileOptions = {}): ClientEnvironment & { storage: IndexedDbStorage } {
  return {
    primitives: createWebPrimitives(),
    storage: new IndexedDbStorage(options.profile ?? 'default'),
    passphrase: options.passphrase ? options.passphrase : undefined,
    socket: browserSocketFactory,
    sealedSocket: browserSealedSocketFactory,
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  };
}
