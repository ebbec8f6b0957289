/**
 * Group conversations between the app and the SDK (MLS, docs/PROTOCOL.md §22). The relay keeps a
 * group inbox per device (docs/API.md §13) and its push channel carries 1:1 messages only, so the
 * app reads the group inbox every POLL_MS while it is open and visible (a hidden tab waits until it
 * is shown again, then reads at once), and right after it sends. Every group call goes through one
 * queue: two syncs of the same inbox never run at once.
 */
import type { BlindrelayClient } from '@blindrelay/client';

export type GroupMessage = Awaited<ReturnType<BlindrelayClient['receiveGroupMessages']>>[number];
export type GroupSummary = Awaited<ReturnType<BlindrelayClient['listGroups']>>[number];

export interface GroupSyncHandlers {
  onMessages(messages: GroupMessage[]): void;
  onGroups(groups: GroupSummary[]): void;
  onError(e: Error): void;
  /** This device's KeyPackages are on the relay: others can add it to groups from now on. */
  onPublished(): void;
}

const POLL_MS = 2000;
/** The group list (new groups we were added to, membership changes) is read every this many polls. */
const LIST_EVERY = 5;
/** KeyPackages (so others can add this browser) are published this long after start, off the first screen's path. */
const PUBLISH_AFTER_MS = 4000;

export class GroupSync {
  readonly #client: BlindrelayClient;
  readonly #h: GroupSyncHandlers;
  readonly #known = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();
  #polls = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #publishTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  readonly #onVisible = () => {
    if (!document.hidden && !this.#stopped) void this.poll();
  };

  constructor(client: BlindrelayClient, handlers: GroupSyncHandlers) {
    this.#client = client;
    this.#h = handlers;
  }

  /** Runs `fn` after every group call queued before it. */
  run<T>(fn: (client: BlindrelayClient) => Promise<T>): Promise<T> {
    const next = this.#queue.then(() => fn(this.#client));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  start(): void {
    document.addEventListener('visibilitychange', this.#onVisible);
    this.#publishTimer = setTimeout(() => {
      void this.run((c) => c.publishGroupKeyPackages())
        .then(() => this.#h.onPublished())
        .catch((e: Error) => this.#h.onError(e))
        .then(() => this.poll());
    }, PUBLISH_AFTER_MS);
  }

  stop(): void {
    this.#stopped = true;
    document.removeEventListener('visibilitychange', this.#onVisible);
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#publishTimer) clearTimeout(this.#publishTimer);
  }

  /** Read the group inbox now (and the group list when due or when a message names a group not listed yet). */
  async poll(list = false): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || document.hidden) return;
    try {
      const messages = await this.run((c) => c.receiveGroupMessages());
      const unknown = messages.some((m) => !this.#known.has(m.group));
      if (list || unknown || this.#polls++ % LIST_EVERY === 0) await this.refresh();
      if (messages.length > 0) this.#h.onMessages(messages);
    } catch (e) {
      this.#h.onError(e as Error);
    }
    if (!this.#stopped && !this.#timer) this.#timer = setTimeout(() => void this.poll(), POLL_MS);
  }

  async refresh(): Promise<GroupSummary[]> {
    const groups = await this.run((c) => c.listGroups());
    this.#known.clear();
    for (const g of groups) this.#known.add(g.id);
    this.#h.onGroups(groups);
    return groups;
  }
}
