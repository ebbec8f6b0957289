/**
 * The chat history across reloads: the conversations and their entries as one JSON file
 * (`web-history.json`, format 1) of this browser's profile storage (the SDK's IndexedDbStorage:
 * sealed with AES-256-GCM under the profile's non-extractable wrap key before it is stored, bound
 * to its file name; packages/client/src/storage/indexeddb.ts). The relay never sees it; "Forget
 * this device" erases it with the rest of the profile. A passphrase lock does not cover it (the
 * SDK's vault seals the SDK's own records only): docs/THREAT-MODEL.md, "The web client".
 *
 * Writes are coalesced (one a short while after the last change) and serialised.
 */
import type { IndexedDbStorage } from '@blindrelay/client/browser';
import type { Entry, SavedConversation } from './conversations.js';

const FILE = 'web-history.json';
const FORMAT = 1;
const DELAY_MS = 250;

const isEntry = (e: unknown): e is Entry => {
  const x = e as Record<string, unknown>;
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.key === 'string' &&
    typeof x.from === 'string' &&
    typeof x.text === 'string' &&
    typeof x.at === 'number' &&
    typeof x.mine === 'boolean' &&
    ['sending', 'sent', 'failed', 'received'].includes(x.state as string)
  );
};
const isConversation = (c: unknown): c is SavedConversation => {
  const x = c as Record<string, unknown>;
  return (
    typeof x === 'object' &&
    x !== null &&
    (x.kind === 'direct' || x.kind === 'group') &&
    typeof x.ref === 'string' &&
    typeof x.title === 'string' &&
    Array.isArray(x.entries) &&
    x.entries.every(isEntry) &&
    (x.members === undefined || (Array.isArray(x.members) && x.members.every((m) => typeof m === 'string')))
  );
};

export class HistoryStore {
  readonly #storage: IndexedDbStorage;
  readonly #snapshot: () => SavedConversation[];
  readonly #onError: (e: Error) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(storage: IndexedDbStorage, snapshot: () => SavedConversation[], onError: (e: Error) => void) {
    this.#storage = storage;
    this.#snapshot = snapshot;
    this.#onError = onError;
  }

  /** The saved conversations; a file that does not decode is reported and ignored (nothing is overwritten until the next change). */
  async load(): Promise<SavedConversation[]> {
    const bytes = await this.#storage.read(FILE);
    if (!bytes) return [];
    let doc: { format?: unknown; conversations?: unknown } = {};
    try {
      doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) ?? {};
    } catch {
      // Reported below like any other file this app cannot read.
    }
    if (typeof doc !== 'object' || doc.format !== FORMAT || !Array.isArray(doc.conversations) || !doc.conversations.every(isConversation))
      throw new Error('the saved chat history is not in a format this app reads');
    return doc.conversations.map((c) => ({
      ...c,
      entries: c.entries.map((e) => ({ ...e, file: e.file && typeof e.file.id === 'string' ? e.file : null })),
    }));
  }

  /** Save soon (coalesces bursts of messages into one write). */
  changed(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, DELAY_MS);
  }

  /** Write now (after any write in progress). */
  flush(): Promise<void> {
    const data = new TextEncoder().encode(JSON.stringify({ format: FORMAT, conversations: this.#snapshot() }));
    this.#writing = this.#writing.then(() => this.#storage.write(FILE, data)).catch((e: Error) => this.#onError(e));
    return this.#writing;
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
