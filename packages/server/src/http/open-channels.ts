/**
 * Open provisioning channels per client address (docs/API.md §7): the global cap in storage is
 * only a backstop, so many addresses together cannot fill it and block all device linking. In
 * memory, per process, like the rate limits: a channel counts against the address that opened
 * it until it expires or its envelope is fetched. Only channel-id hashes are held, never ids.
 */
interface Channel {
  readonly owner: string;
  readonly expiresAt: number;
}

export class OpenChannels {
  private readonly channels = new Map<string, Channel>();
  private readonly byOwner = new Map<string, Set<string>>();

  constructor(private readonly now: () => number) {}

  /** Open channels of `owner` (its expired ones are forgotten first). */
  count(owner: string): number {
    const set = this.byOwner.get(owner);
    if (!set) return 0;
    const now = this.now();
    for (const hash of [...set]) if ((this.channels.get(hash)?.expiresAt ?? 0) <= now) this.release(hash);
    return this.byOwner.get(owner)?.size ?? 0;
  }

  add(hashHex: string, owner: string, expiresAt: number): void {
    this.channels.set(hashHex, { owner, expiresAt });
    let set = this.byOwner.get(owner);
    if (!set) {
      set = new Set();
      this.byOwner.set(owner, set);
    }
    set.add(hashHex);
  }

  /** The channel is used up (envelope fetched) or gone. */
  release(hashHex: string): void {
    const c = this.channels.get(hashHex);
    if (!c) return;
    this.channels.delete(hashHex);
    const set = this.byOwner.get(c.owner);
    set?.delete(hashHex);
    if (set?.size === 0) this.byOwner.delete(c.owner);
  }

  /** Forgets expired channels (housekeeping). */
  sweep(): void {
    const now = this.now();
    for (const [hash, c] of this.channels) if (c.expiresAt <= now) this.release(hash);
  }

  get size(): number {
    return this.channels.size;
  }
}
