/** The in-process bus of the embedded server: a map of topic → handlers. */
import type { Bus, BusEvent, Unsubscribe } from './types.js';

export class MemoryBus implements Bus {
  private readonly topics = new Map<string, Set<(event: BusEvent) => void>>();
  private closed = false;

  constructor(private readonly onHandlerError: (err: unknown) => void = () => {}) {}

  async publish(topic: string, event: BusEvent): Promise<void> {
    if (this.closed) return;
    const handlers = this.topics.get(topic);
    if (!handlers) return;
    for (const h of [...handlers]) {
      queueMicrotask(() => {
        try {
          h(event);
        } catch (err) {
          this.onHandlerError(err);
        }
      });
    }
  }

  subscribe(topic: string, handler: (event: BusEvent) => void): Unsubscribe {
    let set = this.topics.get(topic);
    if (!set) {
      set = new Set();
      this.topics.set(topic, set);
    }
    set.add(handler);
    return () => {
      const s = this.topics.get(topic);
      if (!s) return;
      s.delete(handler);
      if (s.size === 0) this.topics.delete(topic);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.topics.clear();
  }
}
