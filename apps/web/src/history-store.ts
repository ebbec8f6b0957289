/**
 * The chat history across reloads: the conversations and their entries as one JSON document
 * (format 1), kept as an application file of this browser's profile (`BlindrelayClient`
 * `writeAppFile('web-history')`): sealed like the SDK's own records, so under the passphrase
 * (Argon2id, the profile's vault) when the profile has one, and in any case under the profile
 * store's non-extractable wrap key (packages/client/src/storage/indexeddb.ts). The relay never
 * sees it; "Forget this device" erases it with the rest of the profile (docs/THREAT-MODEL.md,
 * "The web client").
 *
 * Earlier versions kept it as the store's own file `web-history.json` (wrap key only): `load`
 * moves such a file into the profile once, then deletes it.
 *
 * Writes are coalesced (one a short while after the last change) and serialised.
 */
import type { Entry, SavedConversation } from './conversations.js';

/** Where the history is kept: the client's application files (readAppFile / writeAppFile). */
export interface AppFiles {
  read(name: string): Promise<Uint8Array | null>;
  write(name: string, data: Uint8Array): Promise<void>;
}
/** The profile store's own files (the SDK's IndexedDbStorage), where earlier versions kept the history. */
export interface LegacyFiles {
  read(name: string): Promise<Uint8Array | null>;
  remove(name: string): Promise<void>;
}

const FILE = 'web-history';
const LEGACY_FILE = 'web-history.json';
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
  readonly #files: AppFiles;
  readonly #snapshot: () => SavedConversation[];
  readonly #onError: (e: Error) => void;
  readonly #legacy: LegacyFiles | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(files: AppFiles, snapshot: () => SavedConversation[], onError: (e: Error) => void, legacy?: LegacyFiles) {
    this.#files = files;
    this.#snapshot = snapshot;
    this.#onError = onError;
    this.#legacy = legacy;
  }

  /**
   * The saved conversations; a file that does not decode is reported and ignored (nothing is
   * overwritten until the next change). A history kept the earlier way is moved into the profile
   * (written there first, then deleted where it was).
   */
  async load(): Promise<SavedConversation[]> {
    const bytes = await this.#files.read(FILE);
    if (bytes) return this.#decode(bytes);
    const legacy = await this.#legacy?.read(LEGACY_FILE);
    if (!legacy) return [];
    const conversations = this.#decode(legacy);
    await this.#files.write(FILE, legacy);
    await this.#legacy?.remove(LEGACY_FILE);
    return conversations;
  }

  #decode(bytes: Uint8Array): SavedConversation[] {
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
    this.#writing = this.#writing.then(() => this.#files.write(FILE, data)).catch((e: Error) => this.#onError(e));
    return this.#writing;
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
