/**
 * Conversations as the app shows them. A conversation has a kind: `direct` (1:1, today) and, once
 * MLS groups exist in the SDK, `group` (members instead of a peer): the list, the composer and the
 * message list only use `id`, `title` and `entries`, so a group plugs in without changing them.
 * Kept in memory for the page's life: history across reloads comes from the SDK's history search
 * (not wired here yet).
 */
import type { FileRef } from './file-message.js';

export interface Entry {
  readonly key: string;
  readonly from: string;
  readonly text: string;
  readonly at: number;
  readonly mine: boolean;
  readonly file: FileRef | null;
  /** For our own messages: sending, sent (the relay took it), or failed. */
  state: 'sending' | 'sent' | 'failed' | 'received';
}

export interface Conversation {
  readonly id: string;
  readonly kind: 'direct';
  readonly peer: string;
  readonly title: string;
  readonly entries: Entry[];
  unread: number;
}

export class Conversations {
  readonly #byId = new Map<string, Conversation>();

  direct(peer: string): Conversation {
    const id = `direct:${peer}`;
    let c = this.#byId.get(id);
    if (!c) {
      c = { id, kind: 'direct', peer, title: peer, entries: [], unread: 0 };
      this.#byId.set(id, c);
    }
    return c;
  }

  get(id: string): Conversation | undefined {
    return this.#byId.get(id);
  }

  /** Most recent activity first. */
  list(): Conversation[] {
    return [...this.#byId.values()].sort((a, b) => (b.entries.at(-1)?.at ?? 0) - (a.entries.at(-1)?.at ?? 0));
  }

  /** Add an entry unless one with the same key is there (a message delivered twice shows once). */
  add(c: Conversation, e: Entry): boolean {
    if (c.entries.some((x) => x.key === e.key)) return false;
    c.entries.push(e);
    c.entries.sort((a, b) => a.at - b.at);
    return true;
  }
}
