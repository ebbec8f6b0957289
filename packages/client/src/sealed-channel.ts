/**
 * Sealed sends over their own WebSocket (docs/API.md §11a, PROTOCOL.md §20): batches of sealed
 * sends go out as `sealed-send` frames on an UNAUTHENTICATED connection to the home relay, each
 * answered by one `sealed-sent` frame with a result per item. The connection is separate from the
 * authenticated one (listen.ts) and carries no token: the relay cannot tie it to an account. It is
 * opened when a sealed send happens and closed after IDLE_MS without one, so what the relay can
 * link (the sealed sends on one connection, as HTTP keep-alive requests from one address already
 * were) is one burst of activity, not a session.
 *
 * HTTP is the fallback, per request: no factory, a relay without the endpoint (404 on the
 * upgrade: an older relay), a socket that does not open or selects another subprotocol, and an
 * item too long for a frame all go as `POST /v1/sealed/messages`; a relay that refused the
 * socket is not asked again for RETRY_MS. A connection that closes with frames unanswered fails
 * their items with UnreachableError: their fate is unknown, as for a POST whose answer was lost.
 */
import { toBase64url } from './base64url.js';
import { relayError, UnreachableError } from './errors.js';
import { MAX_SEND_FRAME_CHARS } from './send-channel.js';
import { type RelaySocket, SEALED_SUBPROTOCOL, type SealedSocketFactory, sealedSocketUrl } from './socket.js';

/** Close the socket after this long without a sealed send. */
export const IDLE_MS = 10_000;
/** After the relay refused the socket (or it failed to open), HTTP only for this long. */
export const RETRY_MS = 5 * 60_000;
/** The relay's cap on items per frame (ws/sealed-sockets.ts MAX_SEALED_ITEMS). */
const MAX_ITEMS = 256;

export interface SealedItem {
  readonly to: string;
  readonly messages: readonly { readonly deviceId: number; readonly token: Uint8Array; readonly body: Uint8Array }[];
}

/** One item's fate: stored, or the error the HTTP route would have raised. */
export type SealedOutcome = { readonly ok: true; readonly ids: string[]; readonly sentAt: number } | { readonly ok: false; readonly error: Error };

/** How an item goes over HTTP (RelayApi.sendSealed). */
export type SealedPost = (to: string, messages: SealedItem['messages']) => Promise<{ ids: string[]; sentAt: number }>;

interface WireItem {
  readonly to: string;
  readonly messages: { deviceId: number; token: string; body: string }[];
}

interface Connection {
  readonly server: string;
  readonly socket: RelaySocket;
  /** True once open with our subprotocol; false if it failed to open. */
  readonly ready: Promise<boolean>;
  readonly pending: Map<string, { items: number; resolve: (r: SealedOutcome[]) => void }>;
  idle: ReturnType<typeof setTimeout> | undefined;
  closed: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const wireChars = (item: WireItem) => {
  // {"to":…,"messages":[{"deviceId":N,"token":"…","body":"…"},…]}
  let n = 6 + JSON.stringify(item.to).length + 13 + 2 + Math.max(0, item.messages.length - 1);
  for (const m of item.messages) n += 34 + String(m.deviceId).length + m.token.length + m.body.length;
  return n;
};

function parseResult(r: unknown): SealedOutcome | undefined {
  if (!isObject(r)) return undefined;
  if (r.ok === true) {
    if (!Array.isArray(r.ids) || !r.ids.every((id) => typeof id === 'string') || typeof r.sentAt !== 'number') return undefined;
    return { ok: true, ids: r.ids as string[], sentAt: r.sentAt };
  }
  if (!Number.isInteger(r.status)) return undefined;
  return { ok: false, error: relayError(r.status as number, r) };
}

export class SealedChannel {
  #conn: Connection | undefined;
  /** Per relay: HTTP only until then (the socket was refused or failed). */
  readonly #refusedUntil = new Map<string, number>();
  #next = 0;

  constructor(
    private readonly server: () => string,
    private readonly factory: SealedSocketFactory | undefined,
    private readonly post: SealedPost,
    private readonly now: () => number = Date.now,
  ) {}

  /** Send the items (over the socket where possible, else HTTP); one outcome per item, in order. */
  async send(items: readonly SealedItem[]): Promise<SealedOutcome[]> {
    const out: (SealedOutcome | undefined)[] = items.map(() => undefined);
    const conn = await this.#connection();
    const http: number[] = [];
    const frames: { index: number[]; wire: WireItem[] }[] = [];
    if (conn) {
      let chars = 0;
      for (const [i, item] of items.entries()) {
        const wire: WireItem = {
          to: item.to,
          messages: item.messages.map((m) => ({ deviceId: m.deviceId, token: toBase64url(m.token), body: toBase64url(m.body) })),
        };
        const size = wireChars(wire) + 1;
        if (size + 100 > MAX_SEND_FRAME_CHARS) {
          http.push(i); // longer than a frame may be
          continue;
        }
        let frame = frames[frames.length - 1];
        if (!frame || chars + size + 100 > MAX_SEND_FRAME_CHARS || frame.wire.length >= MAX_ITEMS) {
          frame = { index: [], wire: [] };
          frames.push(frame);
          chars = 0;
        }
        frame.index.push(i);
        frame.wire.push(wire);
        chars += size;
      }
    } else for (const i of items.keys()) http.push(i);
    await Promise.all([
      ...frames.map(async (f) => {
        const results = await this.#request(conn as Connection, f.wire);
        for (const [k, i] of f.index.entries()) out[i] = results[k];
      }),
      ...http.map(async (i) => {
        const item = items[i] as SealedItem;
        out[i] = await this.post(item.to, item.messages).then(
          (r): SealedOutcome => ({ ok: true, ...r }),
          (error: Error): SealedOutcome => ({ ok: false, error }),
        );
      }),
    ]);
    // Every item may have gone over HTTP (too long for a frame): the idle close still applies.
    if (conn) this.#idleLater(conn);
    return out as SealedOutcome[];
  }

  /** Close the socket now (the client closes). */
  close(): void {
    if (this.#conn) this.#close(this.#conn);
  }

  /** The open connection to the home relay, opening one if needed; undefined: use HTTP. */
  async #connection(): Promise<Connection | undefined> {
    const server = this.server();
    let conn = this.#conn;
    if (conn && (conn.closed || conn.server !== server)) {
      this.#close(conn);
      conn = undefined;
    }
    if (!conn) {
      if (!this.factory || (this.#refusedUntil.get(server) ?? 0) > this.now()) return undefined;
      conn = this.#open(server, this.factory);
      this.#conn = conn;
    }
    if (conn.idle) clearTimeout(conn.idle);
    conn.idle = undefined;
    if (await conn.ready) return conn;
    this.#refusedUntil.set(server, this.now() + RETRY_MS);
    return undefined;
  }

  #open(server: string, factory: SealedSocketFactory): Connection {
    let settle!: (ok: boolean) => void;
    const ready = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    const pending: Connection['pending'] = new Map();
    let conn: Connection | undefined;
    let opened = false;
    const socket = factory(sealedSocketUrl(server), {
      open: (protocol) => {
        // A relay that selected no (or another) subprotocol does not speak sealed-send frames.
        opened = protocol === SEALED_SUBPROTOCOL;
        if (!opened) socket.close(1000, 'unsupported');
        settle(opened);
      },
      message: (text) => {
        if (conn) this.#answer(conn, text);
      },
      close: () => {
        settle(false);
        if (conn) this.#closed(conn);
      },
      error: () => {
        // A failed upgrade (404 from an older relay, refused, unreachable): HTTP.
        settle(false);
      },
    });
    conn = { server, socket, ready, pending, idle: undefined, closed: false };
    return conn;
  }

  #request(conn: Connection, items: WireItem[]): Promise<SealedOutcome[]> {
    if (conn.closed) return Promise.resolve(items.map(() => lost()));
    const id = `z${(this.#next++).toString(36)}`;
    return new Promise<SealedOutcome[]>((resolve) => {
      conn.pending.set(id, { items: items.length, resolve });
      conn.socket.send(JSON.stringify({ type: 'sealed-send', id, items }));
    });
  }

  #answer(conn: Connection, text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!isObject(frame) || frame.type !== 'sealed-sent' || typeof frame.id !== 'string') return;
    const p = conn.pending.get(frame.id);
    if (!p) return;
    conn.pending.delete(frame.id);
    if (isObject(frame.error) && Number.isInteger(frame.error.status)) {
      // The whole frame refused (frames in flight): nothing stored.
      const error = relayError(frame.error.status as number, frame.error);
      p.resolve(Array.from({ length: p.items }, () => ({ ok: false, error })));
    } else {
      const results = Array.isArray(frame.results) ? frame.results.map(parseResult) : [];
      // A malformed answer: the fate of the frame's items is unknown.
      p.resolve(results.length === p.items && results.every((r) => r !== undefined) ? (results as SealedOutcome[]) : results.map(() => lost()));
    }
    this.#idleLater(conn);
  }

  #idleLater(conn: Connection): void {
    if (conn.pending.size > 0 || conn.closed) return;
    if (conn.idle) clearTimeout(conn.idle);
    conn.idle = setTimeout(() => this.#close(conn), IDLE_MS);
    // Node: an idle sealed socket alone does not keep the process up.
    (conn.idle as { unref?: () => void }).unref?.();
  }

  #close(conn: Connection): void {
    if (!conn.closed) conn.socket.close(1000, 'idle');
    this.#closed(conn);
  }

  #closed(conn: Connection): void {
    conn.closed = true;
    if (conn.idle) clearTimeout(conn.idle);
    if (this.#conn === conn) this.#conn = undefined;
    const pending = [...conn.pending.values()];
    conn.pending.clear();
    for (const p of pending) p.resolve(Array.from({ length: p.items }, () => lost()));
  }
}

const lost = (): SealedOutcome => ({
  ok: false,
  error: new UnreachableError('the sealed-send socket closed before the relay answered (the send may or may not have been stored)'),
});
