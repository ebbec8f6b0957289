/**
 * Sends over the WebSocket (docs/API.md §12): while `listen` holds an open connection to the home
 * relay it lends it here, and batches of sends go out as `send` frames, each answered by one
 * `sent` frame (matched by the frame's id). A connection that closes with frames unanswered fails
 * them with UnreachableError: their fate is unknown, as for an HTTP POST whose answer was lost.
 */
import type { shapes } from '@blindrelay/protocol/wire';
import type { Body } from './api.js';
import { UnreachableError } from './errors.js';
import type { RelaySocket } from './socket.js';

/** One item's answer: stored (`ids` per device, in the order sent) or refused with the HTTP status and body. */
export type SentItem = { ok: true; ids: string[]; sentAt: number } | { ok: false; status: number; body: Record<string, unknown> };

/** The relay's answer to a send frame: per item, or a refusal of the whole frame (send mark). */
export type SentAnswer = { results: SentItem[] } | { error: { status: number; body: Record<string, unknown> } };

export interface SendFrameItem {
  readonly to: string;
  readonly messages: readonly { readonly deviceId: number; readonly body: string }[];
}

/** The relay refuses frames above its WebSocket frame limit (64 KiB by default): stay below it. */
export const MAX_SEND_FRAME_CHARS = 60_000;

/**
 * The length of `JSON.stringify(item)` for an item built as `{ to, messages: [{ deviceId, body }] }`
 * with base64url bodies (nothing to escape), without building the string.
 */
export function itemChars(item: SendFrameItem): number {
  // {"to":…,"messages":[{"deviceId":N,"body":"…"},…]}
  let n = 6 + JSON.stringify(item.to).length + 13 + 2 + Math.max(0, item.messages.length - 1);
  for (const m of item.messages) n += 23 + String(m.deviceId).length + m.body.length;
  return n;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseError(e: unknown): { status: number; body: Record<string, unknown> } | undefined {
  if (!isObject(e) || !Number.isInteger(e.status)) return undefined;
  return { status: e.status as number, body: e };
}

function parseItem(r: unknown): SentItem | undefined {
  if (!isObject(r)) return undefined;
  if (r.ok === true) {
    if (!Array.isArray(r.ids) || !r.ids.every((id) => typeof id === 'string') || typeof r.sentAt !== 'number') return undefined;
    return { ok: true, ids: r.ids as string[], sentAt: r.sentAt };
  }
  const err = parseError(r);
  return err ? { ok: false, ...err } : undefined;
}

export class SendChannel {
  #socket: RelaySocket | undefined;
  #server: string | undefined;
  readonly #pending = new Map<string, { items: number; resolve: (a: SentAnswer) => void; reject: (e: Error) => void }>();
  #next = 0;

  /** The relay the open connection goes to, if any. */
  get server(): string | undefined {
    return this.#socket ? this.#server : undefined;
  }

  /** listen.ts: the connection to `server` is open (and speaks `blindrelay.v2`). */
  attach(server: string, socket: RelaySocket): void {
    this.#socket = socket;
    this.#server = server;
  }

  /** listen.ts: the connection closed; unanswered frames fail. */
  detach(socket: RelaySocket): void {
    if (this.#socket !== socket) return;
    this.#socket = undefined;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new UnreachableError('the WebSocket closed before the relay answered a send (it may or may not have been stored)'));
  }

  /** Send one frame (its JSON must stay below MAX_SEND_FRAME_CHARS) and await its answer. */
  request(items: readonly SendFrameItem[], sendMark?: Body<typeof shapes.SEND_MARK_STAMP>): Promise<SentAnswer> {
    const socket = this.#socket;
    if (!socket) return Promise.reject(new UnreachableError('no open WebSocket to send on'));
    const id = `s${(this.#next++).toString(36)}`;
    return new Promise<SentAnswer>((resolve, reject) => {
      this.#pending.set(id, { items: items.length, resolve, reject });
      socket.send(JSON.stringify({ type: 'send', id, items, ...(sendMark ? { sendMark } : {}) }));
    });
  }

  /** listen.ts hands every `sent` frame here. A malformed answer fails its frame (fate unknown). */
  answer(frame: Record<string, unknown>): void {
    if (typeof frame.id !== 'string') return;
    const p = this.#pending.get(frame.id);
    if (!p) return;
    this.#pending.delete(frame.id);
    const error = parseError(frame.error);
    if (error) {
      p.resolve({ error });
      return;
    }
    const results = Array.isArray(frame.results) ? frame.results.map(parseItem) : [];
    if (results.length !== p.items || results.some((r) => r === undefined)) {
      p.reject(new UnreachableError('relay: a malformed answer to a send frame (the sends may or may not have been stored)'));
      return;
    }
    p.resolve({ results: results as SentItem[] });
  }
}
