/**
 * The sealed-send WebSocket (docs/API.md §11a, PROTOCOL.md §20): an UNAUTHENTICATED connection
 * that carries batches of sealed sends, so a client replying in many conversations need not open
 * one HTTP POST per message. It is the relay's side of Signal's "unidentified" socket: no token,
 * no device, nothing of the sender; no push and no other frame type.
 *
 *   → {"type":"sealed-send","id":"<client's id>","items":[{"to":USER,"messages":[{"deviceId":N,"token":B64,"body":B64}]}...]}
 *   ← {"type":"sealed-sent","id":"<same id>","results":[{"ok":true,"ids":[...],"sentAt":MS} | {"ok":false,"status":403,"code":"invalid_delivery_token",...}]}
 *   ← {"type":"sealed-sent","id":"<same id>","error":{"status":429,"code":"rate_limited",...}}   (nothing stored)
 *   ← {"type":"error","code":"bad_request","message":...}   (a malformed frame; MAX_BAD_FRAMES of them close with 1008)
 *
 * Each item is exactly a `POST /v1/sealed/messages` body and gets that route's checks and answer
 * (services/sealed-delivery.ts). The connection is keyed by nothing but the client address, and
 * only to cap connections per address (in memory, never stored or logged).
 */
import { shapes } from '@blindrelay/protocol/wire';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { RawData, WebSocket } from 'ws';
import type { AppContext } from '../context.js';
import { decodeField } from '../http/base64url.js';
import { Obj, schemaOf } from '../http/schemas.js';
import { deliverSealedMany, type SealedBatch } from '../services/sealed-delivery.js';
import { itemError } from '../services/send-batch.js';
import { closeAllGracefully } from './close-all.js';
import { CLOSE_GOING_AWAY, CLOSE_POLICY, MAX_SENDS_IN_FLIGHT } from './hub.js';

/** Items per sealed-send frame (each one sealed send to one user); the frame byte cap (limits.maxWebSocketFrameBytes) binds first for long messages. */
export const MAX_SEALED_ITEMS = 256;
/** Open sealed sockets per client address (a NAT shares one address: generous). */
export const MAX_SEALED_SOCKETS_PER_ADDRESS = 32;
const MAX_BAD_FRAMES = 20;
const PING_INTERVAL_MS = 30_000;

/** One item: exactly a `POST /v1/sealed/messages` body. */
const SealedItem = schemaOf(shapes.SEALED_SEND_REQUEST);
type SealedItem = Static<typeof SealedItem>;

export const SealedSendFrame = Obj({
  type: Type.Literal('sealed-send'),
  /** Chosen by the client to match the answer; echoed as is. */
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  items: Type.Array(SealedItem, { minItems: 1, maxItems: MAX_SEALED_ITEMS }),
});
export type SealedSendFrame = Static<typeof SealedSendFrame>;
const checkFrame = TypeCompiler.Compile(SealedSendFrame);

interface Connection {
  readonly socket: WebSocket;
  readonly address: string;
  alive: boolean;
  closed: boolean;
  badFrames: number;
  inFlight: number;
}

export class SealedSockets {
  private readonly all = new Set<Connection>();
  private readonly perAddress = new Map<string, number>();
  private readonly pinger: NodeJS.Timeout;
  private shuttingDown = false;

  constructor(private readonly ctx: AppContext) {
    this.pinger = setInterval(() => this.ping(), PING_INTERVAL_MS);
    this.pinger.unref();
  }

  /** Open sealed sockets of a client address (the upgrade's cap, routes/sealed-ws.ts). */
  count(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  get size(): number {
    return this.all.size;
  }

  attach(socket: WebSocket, address: string): void {
    const conn: Connection = { socket, address, alive: true, closed: false, badFrames: 0, inFlight: 0 };
    socket.on('message', (data, isBinary) => void this.onFrame(conn, data, isBinary));
    socket.on('pong', () => {
      conn.alive = true;
    });
    socket.on('close', () => this.detach(conn));
    if (this.shuttingDown) {
      socket.close(CLOSE_GOING_AWAY, 'server shutting down');
      return;
    }
    this.all.add(conn);
    this.perAddress.set(address, this.count(address) + 1);
    this.ctx.metrics.sealedWebsocketConnections.inc();
  }

  /** Close every connection (shutdown); resolves when all are closed or after a short grace. */
  async closeAll(): Promise<void> {
    this.shuttingDown = true;
    clearInterval(this.pinger);
    await closeAllGracefully([...this.all], (c) => this.close(c, CLOSE_GOING_AWAY, 'server shutting down'));
  }

  private detach(conn: Connection): void {
    conn.closed = true;
    if (!this.all.delete(conn)) return;
    this.ctx.metrics.sealedWebsocketConnections.dec();
    const n = this.count(conn.address) - 1;
    if (n > 0) this.perAddress.set(conn.address, n);
    else this.perAddress.delete(conn.address);
  }

  private close(conn: Connection, code: number, reason: string): void {
    conn.closed = true;
    const s = conn.socket;
    if (s.readyState === s.OPEN || s.readyState === s.CONNECTING) s.close(code, reason);
  }

  private sendFrame(conn: Connection, frame: unknown): void {
    if (conn.socket.readyState === conn.socket.OPEN) conn.socket.send(JSON.stringify(frame));
  }

  private error(conn: Connection, message: string): void {
    this.sendFrame(conn, { type: 'error', code: 'bad_request', message });
    if (++conn.badFrames >= MAX_BAD_FRAMES) this.close(conn, CLOSE_POLICY, 'too many malformed frames');
  }

  private async onFrame(conn: Connection, data: RawData, isBinary: boolean): Promise<void> {
    if (conn.closed) return;
    if (isBinary) return this.error(conn, 'frames must be JSON text');
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString());
    } catch {
      return this.error(conn, 'malformed JSON');
    }
    if (!checkFrame.Check(frame)) return this.error(conn, 'expected a sealed-send frame (docs/API.md §11a); this socket takes no other');
    if (conn.inFlight >= MAX_SENDS_IN_FLIGHT) {
      const error = { status: 429, code: 'rate_limited', message: 'too many sealed-send frames in flight on this connection; wait for their answers' };
      this.sendFrame(conn, { type: 'sealed-sent', id: frame.id, error });
      return;
    }
    conn.inFlight++;
    try {
      const batches: SealedBatch[] = [];
      const malformed: (ReturnType<typeof itemError> | undefined)[] = [];
      // Base64url is decoded per item: an item that does not decode is refused as HTTP would (400).
      for (const item of frame.items) {
        try {
          batches.push({ to: item.to, messages: decodeMessages(this.ctx, item) });
          malformed.push(undefined);
        } catch (err) {
          malformed.push(itemError(err));
        }
      }
      const delivered = await deliverSealedMany(this.ctx, batches, conn.address);
      let k = 0;
      const results = malformed.map((m) => (m ? { ok: false, ...m } : delivered[k++]));
      this.sendFrame(conn, { type: 'sealed-sent', id: frame.id, results });
    } catch (err) {
      // No sender to log: none is known here; the error is the storage's or ours.
      this.ctx.log.warn({ err }, 'sealed websocket send failed');
      this.sendFrame(conn, { type: 'sealed-sent', id: frame.id, error: itemError(err) });
    } finally {
      conn.inFlight--;
    }
  }

  private ping(): void {
    for (const conn of this.all) {
      if (!conn.alive) {
        conn.socket.terminate();
        continue;
      }
      conn.alive = false;
      if (conn.socket.readyState === conn.socket.OPEN) conn.socket.ping();
    }
  }
}

function decodeMessages(ctx: AppContext, item: SealedItem): SealedBatch['messages'] {
  return item.messages.map((m, i) => ({
    deviceId: m.deviceId,
    token: decodeField(m.token, `messages[${i}].token`, { exact: 32 }),
    body: decodeField(m.body, `messages[${i}].body`, { min: 1, max: ctx.limits.maxMessageBytes }),
  }));
}
