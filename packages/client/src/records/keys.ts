/**
 * Collection keys on this device (docs/PROTOCOL.md §19.1): kept in the profile's `collections`
 * record, and carried between devices only inside end-to-end encrypted `collection-key`
 * envelopes (envelope.ts), never through the relay in the clear.
 *
 * A key envelope is accepted from our own user (another of our devices) or from the collection's
 * owner as the envelope names it, and only when the sender is that owner or us: a member cannot
 * hand out keys of someone else's collection, and a relay cannot forge an envelope at all. An
 * epoch already held keeps its key (first one wins: a later envelope cannot swap it).
 */
import { fromBase64url } from '../base64url.js';
import type { CollectionKeyEnvelope } from '../envelope.js';
import { EnvelopeError } from '../errors.js';
import type { CollectionEntry, Transaction } from '../profile.js';

/** Store the key an envelope carries; throws EnvelopeError if the sender may not give it. */
export async function acceptCollectionKey(tx: Transaction, self: string, from: string, e: CollectionKeyEnvelope): Promise<void> {
  if (from !== self && from !== e.owner) throw new EnvelopeError(`${from} sent a key of a collection owned by ${e.owner}`);
  const record = await tx.get('collections');
  const held = record.collections.get(e.collection);
  if (held && held.owner !== e.owner) throw new EnvelopeError('a key for a collection held under another owner');
  await storeCollectionKey(tx, e.collection, { owner: e.owner, name: held?.name ?? e.name }, e.epoch, fromBase64url(e.key));
}

/** Add an epoch's key (kept if that epoch is already held). */
export async function storeCollectionKey(
  tx: Transaction,
  id: string,
  about: { owner: string; name: string },
  epoch: number,
  key: Uint8Array,
): Promise<CollectionEntry> {
  const record = await tx.get('collections');
  const held = record.collections.get(id);
  const keys = [...(held?.keys ?? [])];
  if (!keys.some((k) => k.epoch === epoch)) keys.push({ epoch, key });
  keys.sort((a, b) => a.epoch - b.epoch);
  const entry: CollectionEntry = { owner: held?.owner ?? about.owner, name: held?.name ?? about.name, keys };
  record.collections.set(id, entry);
  tx.set('collections', record);
  return entry;
}
