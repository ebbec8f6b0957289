/**
 * Profile rollback detection (review K2; docs/API.md §5a, PROTOCOL.md §13.2).
 *
 * Encryption is deterministic given the ratchet state, so a profile restored from an older copy
 * (a backup, a copied directory, a VM snapshot) would encrypt its next messages with message keys
 * and AES-GCM nonces it already used. The profile therefore holds a send mark: + 1 for every send,
 * signed with the device signing key and written to disk with the advanced sessions before the
 * ciphertext leaves (write-ahead, as the sessions themselves). The relay keeps the highest mark
 * per device and refuses a send whose mark is not above it. Before the first send of an opened
 * profile the SDK asks the relay for its mark and refuses to encrypt from a profile whose mark is
 * lower; so an older copy is caught before anything leaves the device.
 *
 * - A crash between the profile write and the POST leaves the profile ahead of the relay: the
 *   next send simply uses the next mark. Only a profile behind the relay — a copy older than a
 *   send that reached the relay — is refused.
 * - The relay cannot fake a rollback: the marks it shows must carry this device's signature. It
 *   can show an older mark (hiding a rollback it would itself profit from) or refuse sends (as it
 *   always could): denial of service, never key reuse caused by the relay.
 * - `recoverFromRollback` makes an older copy usable again: it drops every session (the next send
 *   to anyone starts a new one from fresh prekeys, so no old message key is used again) and takes
 *   over the relay's mark. A newer copy still in use somewhere is then the one refused.
 */
import { signSendMark, verifySendMark } from '@blindrelay/protocol';
import type { SendMarkStamp } from './api.js';
import { fromBase64url } from './base64url.js';
import type { Context } from './context.js';
import { ProfileRolledBackError, RelayError, SendMarkStaleError } from './errors.js';
import type { Profile, Transaction } from './profile.js';

interface MarkState {
  /** The relay's mark was compared with this profile's (once per opened profile). */
  relayChecked: boolean;
  /** The highest mark this process saw in the profile: less on disk later means the files were replaced under us. */
  highest: number;
}
const states = new WeakMap<Profile, MarkState>();

function stateOf(ctx: Context): MarkState {
  let state = states.get(ctx.profile);
  if (!state) {
    state = { relayChecked: false, highest: 0 };
    states.set(ctx.profile, state);
  }
  return state;
}

const forged = () => new RelayError('ERR_RELAY', 200, 'bad_response', 'relay: it claims a send mark this device never signed');

/** True if `signature` is this device's over `mark`. */
async function ours(ctx: Context, mark: number, signature: Uint8Array): Promise<boolean> {
  try {
    await verifySendMark(ctx.p, ctx.account.signingKey, { user: ctx.account.user, deviceId: ctx.account.deviceId, mark }, signature);
    return true;
  } catch {
    return false;
  }
}

type HeldMark = Awaited<ReturnType<Context['api']['sendMark']>>;

/** The relay's mark for this device, its signature checked (a relay cannot claim a mark we never signed). */
async function relayMark(ctx: Context, requested?: Promise<HeldMark>): Promise<number> {
  const held = await (requested ?? ctx.api.sendMark());
  if (held.mark === 0) return 0;
  if (!held.signature || !(await ours(ctx, held.mark, held.signature))) throw forged();
  return held.mark;
}

/**
 * The relay's answer `nextSendMark` will need, asked now: undefined when the relay's mark was
 * already compared for this opened profile. A send asks at its start, in parallel with its other
 * lookups (the comparison itself stays in `nextSendMark`, inside the transaction; DECISIONS.md,
 * "The first send's requests overlap"). A request that is not used is harmless (a read).
 */
export function requestRelayMark(ctx: Context): Promise<HeldMark> | undefined {
  if (stateOf(ctx).relayChecked) return undefined;
  const requested = ctx.api.sendMark();
  requested.catch(() => undefined); // its error is raised where it is used (nextSendMark)
  return requested;
}

/**
 * The mark for the send about to leave, inside its transaction (the caller flushes, then posts
 * with it). Throws ProfileRolledBackError — the transaction then writes nothing — if this profile
 * is behind the relay or behind what this process already saw. `requested`: the relay's mark asked
 * earlier in this same transaction (requestRelayMark).
 */
export async function nextSendMark(ctx: Context, tx: Transaction, requested?: Promise<HeldMark>): Promise<SendMarkStamp> {
  const record = await tx.get('sendmark');
  const state = stateOf(ctx);
  if (record.mark < state.highest) throw new ProfileRolledBackError(state.highest, record.mark);
  if (!state.relayChecked) {
    const held = await relayMark(ctx, requested);
    if (held > record.mark) throw new ProfileRolledBackError(held, record.mark);
    state.relayChecked = true;
  }
  const value = record.mark + 1;
  const signature = await signSendMark(ctx.p, ctx.account.signingSeed, { user: ctx.account.user, deviceId: ctx.account.deviceId, mark: value });
  tx.set('sendmark', { mark: value });
  state.highest = value;
  return { value, signature };
}

/**
 * The relay's 409 `send_mark_stale` as the user should see it: ProfileRolledBackError when the
 * mark it shows is this device's own (a real rollback, or another copy of this profile sending),
 * a bad-response error when it is not. Other errors pass through.
 */
export async function explainSendRefusal(ctx: Context, e: unknown): Promise<unknown> {
  if (!(e instanceof SendMarkStaleError)) return e;
  let signature: Uint8Array | undefined;
  try {
    signature = e.signature === undefined ? undefined : fromBase64url(e.signature);
  } catch {}
  if (e.mark === undefined || e.mark < 1 || !signature || !(await ours(ctx, e.mark, signature))) return forged();
  const state = stateOf(ctx);
  state.relayChecked = false;
  return new ProfileRolledBackError(e.mark, (await ctx.profile.read('sendmark')).mark);
}

export interface RollbackRecovery {
  /** False when no rollback was found (nothing changed). */
  readonly recovered: boolean;
  /** Peer devices whose sessions were dropped. */
  readonly sessions: number;
  /** The profile's send mark now. */
  readonly mark: number;
}

/** See the module comment. Nothing changes unless this profile is behind the relay (or this process). */
export function recoverFromRollback(ctx: Context): Promise<RollbackRecovery> {
  return ctx.profile.transact(async (tx) => {
    const record = await tx.get('sendmark');
    const state = stateOf(ctx);
    const held = Math.max(await relayMark(ctx), state.highest);
    if (held <= record.mark) return { recovered: false, sessions: 0, mark: record.mark };
    const keys = await tx.sessionKeys();
    for (const key of keys) tx.setSession(key, undefined);
    tx.set('sendmark', { mark: held });
    state.relayChecked = true;
    state.highest = held;
    return { recovered: true, sessions: keys.length, mark: held };
  });
}
