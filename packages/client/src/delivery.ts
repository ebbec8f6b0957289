/**
 * Delivery tokens on the client (docs/PROTOCOL.md §20.1, docs/API.md §11).
 *
 * Each device holds one delivery token (32 random bytes). It registers the token's verifier with
 * the relay before handing the token out, then puts it in every `message` envelope it sends to
 * another user (envelope.ts `deliveryToken`): inside the end-to-end encryption, so only the
 * contact's devices learn it. A receiver keeps the tokens of its contacts' devices; a send to a
 * user whose every current device's token it holds goes sealed (send.ts).
 *
 * Rotation: a new token; the relay keeps the previous ones valid for a grace period (7 days) while
 * the new one reaches contacts with our next messages. Blocking a user: the token is revoked (a
 * new one, every previous one invalid at once), the blocked user is never handed the new one, and
 * messages from them are dropped on receipt. Contacts who have not heard from us since fall back
 * to the authenticated path until our next message reaches them.
 */
import { deliveryTokenVerifier, newDeliveryToken } from '@blindrelay/protocol';
import { fromBase64url, toBase64url } from './base64url.js';
import type { Context } from './context.js';
import { type DeliveryRecord, sessionKey, type Transaction } from './profile.js';

async function register(ctx: Context, token: Uint8Array, mode: 'rotate' | 'revoke'): Promise<void> {
  await ctx.api.setDeliveryToken(await deliveryTokenVerifier(ctx.p, token), mode);
}

/**
 * This device's token for an envelope to `to` (base64url), registering it with the relay first if
 * needed. Undefined for a blocked user, and when the relay has no sealed sends (404: an older
 * relay); other relay errors also leave the message without a token (it is sent regardless).
 */
export async function tokenFor(ctx: Context, tx: Transaction, to: string): Promise<string | undefined> {
  if (to === ctx.account.user) return undefined;
  const d = await tx.get('delivery');
  if (d.blocked.includes(to)) return undefined;
  if (!d.own?.registered) {
    const token = d.own?.token ?? newDeliveryToken(ctx.p);
    d.own = { token, registered: false };
    tx.set('delivery', d);
    try {
      await register(ctx, token, 'rotate');
    } catch {
      // An older relay (404), or any refusal: this message goes without a token; the next tries again.
      return undefined;
    }
    d.own = { token, registered: true };
    tx.set('delivery', d);
  }
  return toBase64url(d.own.token);
}

/** Remember the token a contact's device handed us. */
export async function rememberToken(tx: Transaction, user: string, deviceId: number, token: string): Promise<void> {
  const d = await tx.get('delivery');
  const key = sessionKey(user, deviceId);
  const bytes = fromBase64url(token);
  const held = d.known.get(key);
  if (held && held.length === bytes.length && held.every((b, i) => b === bytes[i])) return;
  d.known.set(key, bytes);
  tx.set('delivery', d);
}

/** The tokens of `user`'s devices `deviceIds`, or undefined unless we hold one for every device. */
export async function tokensFor(tx: Transaction, user: string, deviceIds: readonly number[]): Promise<Map<number, Uint8Array> | undefined> {
  const d = await tx.get('delivery');
  const out = new Map<number, Uint8Array>();
  for (const id of deviceIds) {
    const t = d.known.get(sessionKey(user, id));
    if (!t) return undefined;
    out.set(id, t);
  }
  return out;
}

/** Forget every token of `user` (the relay refused one: rotated out or revoked). */
export async function forgetTokens(tx: Transaction, user: string): Promise<void> {
  const d = await tx.get('delivery');
  const prefix = `${user}/`; // sessionKey(user, id)
  let changed = false;
  for (const key of [...d.known.keys()]) {
    if (key.startsWith(prefix)) {
      d.known.delete(key);
      changed = true;
    }
  }
  if (changed) tx.set('delivery', d);
}

/**
 * A new delivery token for this device. `revoke`: every previous token stops working now
 * (blocking); otherwise they stay valid for the relay's grace period.
 */
export async function rotateDeliveryToken(ctx: Context, options: { revoke?: boolean } = {}): Promise<void> {
  await ctx.profile.transact(async (tx) => {
    const d = await tx.get('delivery');
    const token = newDeliveryToken(ctx.p);
    await register(ctx, token, options.revoke ? 'revoke' : 'rotate');
    d.own = { token, registered: true };
    tx.set('delivery', d);
  });
}

/** Block `user`: revoke our token (a new one they never get) and drop their messages from now on. */
export async function blockUser(ctx: Context, user: string): Promise<void> {
  await ctx.profile.transact(async (tx) => {
    const d = await tx.get('delivery');
    if (!d.blocked.includes(user)) d.blocked.push(user);
    tx.set('delivery', d);
  });
  await rotateDeliveryToken(ctx, { revoke: true });
}

export async function unblockUser(ctx: Context, user: string): Promise<void> {
  await ctx.profile.transact(async (tx) => {
    const d = await tx.get('delivery');
    d.blocked = d.blocked.filter((u) => u !== user);
    tx.set('delivery', d);
  });
}

export async function isBlocked(tx: Transaction, user: string): Promise<boolean> {
  return (await tx.get('delivery')).blocked.includes(user);
}

export type { DeliveryRecord };
