/**
 * What this device has already processed (dedup and replay defence; receive.ts), as 16-byte
 * digests in one bounded set: ciphertexts and (sender, message id) pairs, each digest
 * domain-separated. Two digests per message, LIMITS.seen in all: the last ~7500 messages.
 * (Relay ids were a third until 2026-12-04: redundant with the ciphertext, docs/DECISIONS.md.)
 *
 * The newest digests (at most LIMITS.seenHot) live in the small `recent` record, written with every
 * batch; when it is full they move to the `seen` record, which is therefore rewritten once every
 * LIMITS.seenHot digests instead of with every message. `recent.seenId` names the `seen` content
 * (a random id drawn on every write), so a transaction does not even read `seen` while the cached
 * copy is current.
 */
import { concat, type Primitives, utf8 } from '@blindrelay/protocol';
import type { Context } from './context.js';
import { LIMITS, type RecentRecord, type SeenRecord, type Transaction } from './profile.js';
import { DigestList, digestString } from './profile-codec.js';

const LABEL = utf8('blindrelay seen v1\0');
/** Kind 1 was relay ids (no longer kept). */
const KIND = { message: 2, baseKey: 3 } as const;

/** The first 16 bytes of SHA-512 of a ciphertext (replays under new relay ids). */
export async function bodyDigest(p: Primitives, body: Uint8Array): Promise<string> {
  return digestString(await p.sha512(body));
}

/** A digest of a `sender:messageId` pair or a base key, never equal to a body digest's input. */
export async function labelledDigest(p: Primitives, kind: keyof typeof KIND, value: string | Uint8Array): Promise<string> {
  const bytes = typeof value === 'string' ? utf8(value) : value;
  return digestString(await p.sha512(concat(LABEL, new Uint8Array([KIND[kind]]), bytes)));
}

export class SeenSet {
  readonly #ctx: Context;
  readonly #tx: Transaction;
  readonly #recent: RecentRecord;
  #seen: SeenRecord;

  private constructor(ctx: Context, tx: Transaction, recent: RecentRecord, seen: SeenRecord) {
    this.#ctx = ctx;
    this.#tx = tx;
    this.#recent = recent;
    this.#seen = seen;
  }

  static async open(ctx: Context, tx: Transaction): Promise<SeenSet> {
    const recent = await tx.get('recent');
    return new SeenSet(ctx, tx, recent, await tx.get('seen'));
  }

  has(digest: string): boolean {
    return this.#recent.hot.has(digest) || this.#seen.digests.has(digest);
  }

  add(digest: string): void {
    const recent = this.#recent;
    recent.hot.push(digest, Number.MAX_SAFE_INTEGER);
    if (recent.hot.size >= LIMITS.seenHot) {
      // Move the hot digests to `seen` under a new id, keeping the newest LIMITS.seen. The list is
      // the transaction's copy, changed in place (a failed transaction drops its cached records).
      this.#seen.digests.append(recent.hot, LIMITS.seen);
      const seen: SeenRecord = { id: this.#ctx.p.randomBytes(16), digests: this.#seen.digests };
      this.#tx.set('seen', seen);
      this.#seen = seen;
      recent.seenId = seen.id;
      recent.hot = new DigestList();
    }
    this.#tx.set('recent', recent);
  }
}
