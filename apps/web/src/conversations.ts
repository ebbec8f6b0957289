/**
 * Conversations as the app shows them: `direct` (1:1, with a peer) or `group` (an MLS group of the
 * SDK, by its id). The list, the composer and the message list only use `id`, `title` and
 * `entries`. The whole set is kept across reloads by history-store.ts (sealed in IndexedDB).
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

interface Common {
  readonly id: string;
  title: string;
  readonly entries: Entry[];
  unread: number;
}
export interface DirectConversation extends Common {
  readonly kind: 'direct';
  readonly peer: string;
}
export interface GroupConversation extends Common {
  readonly kind: 'group';
  /** The SDK's group id (base64url). */
  readonly group: string;
  /** Member users, as last listed. */
  members: readonly string[];
}
export type Conversation = DirectConversation | GroupConversation;

/** What history-store.ts keeps of a conversation. */
export interface SavedConversation {
  readonly kind: 'direct' | 'group';
  /** The peer (direct) or the group id (group). */
  readonly ref: string;
  readonly title: string;
  readonly members?: readonly string[];
  readonly entries: readonly Entry[];
}

/** Entries kept per conversation across reloads (the newest). */
export const KEPT_ENTRIES = 500;

export class Conversations {
  readonly #byId = new Map<string, Conversation>();

  direct(peer: string): DirectConversation {
    const id = `direct:${peer}`;
    let c = this.#byId.get(id);
    if (!c) {
      c = { id, kind: 'direct', peer, title: peer, entries: [], unread: 0 };
      this.#byId.set(id, c);
    }
    return c as DirectConversation;
  }

  group(group: string, title = 'group'): GroupConversation {
    const id = `group:${group}`;
    let c = this.#byId.get(id);
    if (!c) {
      c = { id, kind: 'group', group, title, members: [], entries: [], unread: 0 };
      this.#byId.set(id, c);
    }
    return c as GroupConversation;
  }

  get(id: string): Conversation | undefined {
    return this.#byId.get(id);
  }

  /** Forget a conversation (a group we left or were removed from keeps its history: see callers). */
  delete(id: string): void {
    this.#byId.delete(id);
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

  save(): SavedConversation[] {
    return [...this.#byId.values()].map((c) => ({
      kind: c.kind,
      ref: c.kind === 'direct' ? c.peer : c.group,
      title: c.title,
      ...(c.kind === 'group' ? { members: c.members } : {}),
      // A message still being sent when the page went away is not known to have left.
      entries: c.entries.slice(-KEPT_ENTRIES).map((e) => (e.state === 'sending' ? { ...e, state: 'failed' as const } : e)),
    }));
  }

  restore(saved: readonly SavedConversation[]): void {
    for (const s of saved) {
      const c = s.kind === 'direct' ? this.direct(s.ref) : this.group(s.ref, s.title);
      if (c.kind === 'group') c.members = s.members ?? [];
      for (const e of s.entries) this.add(c, { ...e });
    }
  }
}
