/**
 * Message history search (docs/SEARCH.md, "Message history"): every message this device sends or
 * receives is sealed into the user's private `.history` collection (owned by the user, never
 * shared; its key reaches the user's other devices in `collection-key` envelopes), with a word
 * index on the text and an exact index on the sender, so `blindrelay search` finds it from any
 * device that holds the key. A record's id is SHA-256(sender ‖ 0x00 ‖ message id)[0..16]: the
 * sync copy and the original land on the same record, and a sender cannot overwrite another
 * sender's message by reusing its id.
 */
import { utf8 } from '@blindrelay/protocol';
import { toBase64url } from '../base64url.js';
import type { Context } from '../context.js';
import { InvalidArgumentError } from '../errors.js';
import { createCollection, findRecords, putRecord } from './collections.js';

export const HISTORY_COLLECTION = '.history';
/** Token widths are planned for this many messages; past it, the put that overflows re-plans (collections.ts putRecord: once, for twice the size). */
export const HISTORY_PLANNED_MESSAGES = 100_000;

export interface HistoryMessage {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly text: string;
  readonly sentAt: number;
}

/** Our own history collections' ids (several if two devices created one at once), oldest id first. */
async function historyIds(ctx: Context): Promise<string[]> {
  const all = await ctx.profile.transact(async (tx) => [...(await tx.get('collections')).collections.entries()]);
  return all
    .filter(([, c]) => c.owner === ctx.account.user && c.name === HISTORY_COLLECTION)
    .map(([id]) => id)
    .sort();
}

async function recordId(ctx: Context, m: HistoryMessage): Promise<string> {
  const digest = await ctx.p.sha256(utf8(`${m.from}\u0000${m.id}`));
  return toBase64url(digest.subarray(0, 16));
}

/** Seal `messages` into the history collection (created on first use). */
export async function indexHistory(ctx: Context, messages: readonly HistoryMessage[]): Promise<void> {
  if (messages.length === 0) return;
  let [id] = await historyIds(ctx);
  if (!id) {
    id = (
      await createCollection(ctx, HISTORY_COLLECTION, {
        plannedRecords: HISTORY_PLANNED_MESSAGES,
        indexes: [
          { kind: 'word', fields: ['text'] },
          { kind: 'exact', fields: ['from'] },
        ],
      })
    ).id;
  }
  for (const m of messages) {
    await putRecord(ctx, id, { id: m.id, from: m.from, to: m.to, text: m.text, sentAt: m.sentAt }, { id: await recordId(ctx, m) });
  }
}

/** Messages whose text contains every word of `words` (any order, case-folded), oldest first. */
export async function searchHistory(ctx: Context, words: string): Promise<HistoryMessage[]> {
  if (typeof words !== 'string' || words.trim() === '') throw new InvalidArgumentError('search for at least one word');
  const found = new Map<string, HistoryMessage>();
  for (const id of await historyIds(ctx)) {
    const r = await findRecords(ctx, id, [{ field: 'text', value: words }]);
    for (const { record } of r.records) {
      const m = record as unknown as HistoryMessage;
      if (typeof m.id !== 'string' || typeof m.from !== 'string' || typeof m.text !== 'string' || typeof m.sentAt !== 'number') continue;
      found.set(`${m.from}\u0000${m.id}`, { id: m.id, from: m.from, to: String(m.to), text: m.text, sentAt: m.sentAt });
    }
  }
  return [...found.values()].sort((a, b) => a.sentAt - b.sentAt || (a.id < b.id ? -1 : 1));
}
