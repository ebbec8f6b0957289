/**
 * WebSocket push (docs/API.md §6). One hub per server: it holds the authenticated connections of
 * each device, subscribes to the device's bus topic while at least one is open, and on a wake-up
 * pushes whatever that connection has not seen yet, read from storage in queue order.
 *
 * Delivery is at least once: a message pushed but not acknowledged stays queued and is pushed
 * again on the next connection. Within one connection each message is pushed once (tracked by
 * the queue sequence number). Sends await the socket's write callback, so a client that stops
 * reading holds at most one batch in memory.
 *
 * Close codes: 4001 revoked (after a `{"type":"revoked"}` frame), 4002 token expired, 4003 account
 * deleted (after a `{"type":"account-deleted"}` frame),
 * 1001 server shutting down, 1008 too many malformed frames.
 */
import type { Primitives } from '@blindrelay/protocol';
import { shapes } from '@blindrelay/protocol/wire';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import { type Bus, type DeviceEvent, deviceTopic, type Unsubscribe } from '../bus/types.js';
import type { Limits } from '../config.js';
import type { AuthenticatedDevice } from '../context.js';
import { decodeField, encodeBase64url } from '../http/base64url.js';
import { ApiError } from '../http/errors.js';
import type { RateLimiter } from '../http/rate-limit.js';
import { checkAckFrameSignature } from '../http/request-signature.js';
import { Obj, schemaOf } from '../http/schemas.js';
import type { Metrics } from '../metrics.js';
import { SEALED_FROM_USER } from '../storage/sealed-types.js';
import type { Storage, StoredMessage } from '../storage/types.js';
import { closeAllGracefully } from './close-all.js';
import { isSendFrame, type SendFrameHandler } from './send-frames.js';

export const CLOSE_REVOKED = 4001;
export const CLOSE_TOKEN_EXPIRED = 4002;
export const CLOSE_ACCOUNT_DELETED = 4003;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY = 1008;

const PUSH_BATCH = 100;
const PUSH_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_BAD_FRAMES = 20;
const PING_INTERVAL_MS = 30_000;
/** Send frames of one connection being processed at once; more are refused with 429 (docs/API.md §12). */
export const MAX_SENDS_IN_FLIGHT = 16;

/** The same ids as the body of `POST /v1/messages/ack` (the wire contract's shape). */
const AckedIds = schemaOf(shapes.ACKED_IDS);
const AckFrame = Obj({
  type: Type.Literal('ack'),
  ids: AckedIds,
  /** The Blindrelay-Signature of this ack as `POST /v1/messages/ack` (docs/API.md §2a, §6). */
  signature: Type.Optional(Type.String({ maxLength: 256 })),
});
const checkAck = TypeCompiler.Compile(AckFrame);

interface Connection {
  readonly socket: WebSocket;
  readonly user: string;
  readonly deviceId: number;
  readonly topic: string;
  lastSeq: number;
  pumping: boolean;
  again: boolean;
  closed: boolean;
  alive: boolean;
  badFrames: number;
  expiry?: NodeJS.Timeout;
  /** `blindrelay.v2`: pushes go out as `messages` frames carrying a batch (docs/API.md §12). */
  readonly batched: boolean;
  /** Handles `send` frames (docs/API.md §12); absent: send frames are refused as malformed. */
  readonly onSend: SendFrameHandler | undefined;
  sendsInFlight: number;
}

/** How a connection was opened (routes/ws.ts). */
export interface AttachOptions {
  /** Push batches (`messages` frames) instead of one `message` frame per message. */
  readonly batched?: boolean;
  readonly onSend?: SendFrameHandler;
}

interface DeviceEntry {
  readonly conns: Set<Connection>;
  readonly unsubscribe: Unsubscribe;
}

export interface HubDeps {
  readonly storage: Storage;
  readonly bus: Bus;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly now: () => number;
  readonly limits: Limits;
  /** Verifies ack frames' request signatures. */
  readonly primitives: Primitives;
  /** Charges `acksPerDevice` for each ack frame (shared with HTTP acks). */
  readonly rateLimiter?: RateLimiter;
}

/** A queued message as the API shows it; a sealed one (no sender stored) has `sealed: true` and no `from`/`fromDevice` (docs/API.md §11). */
export function envelopeJson(m: StoredMessage) {
  if (m.fromUser === SEALED_FROM_USER) return { id: encodeBase64url(m.id), sealed: true, body: encodeBase64url(m.body), sentAt: m.sentAt };
  return { id: encodeBase64url(m.id), from: m.fromUser, fromDevice: m.fromDevice, body: encodeBase64url(m.body), sentAt: m.sentAt };
}

export class WebSocketHub {
  private readonly devices = new Map<string, DeviceEntry>();
  private readonly all = new Set<Connection>();
  private readonly pinger: NodeJS.Timeout;
  private shuttingDown = false;

  constructor(private readonly deps: HubDeps) {
    this.pinger = setInterval(() => this.ping(), PING_INTERVAL_MS);
    this.pinger.unref();
  }

  /** Open connections of one device. */
  count(user: string, deviceId: number): number {
    return this.devices.get(deviceTopic(user, deviceId))?.conns.size ?? 0;
  }

  get size(): number {
    return this.all.size;
  }

  attach(socket: WebSocket, device: AuthenticatedDevice, options: AttachOptions = {}): void {
    const topic = deviceTopic(device.user, device.deviceId);
    const conn: Connection = {
      socket,
      user: device.user,
      deviceId: device.deviceId,
      topic,
      lastSeq: 0,
      pumping: false,
      again: false,
      closed: false,
      alive: true,
      badFrames: 0,
      batched: options.batched ?? false,
      onSend: options.onSend,
      sendsInFlight: 0,
    };
    // Handlers first (synchronously), so no frame is missed while we do async work.
    socket.on('message', (data, isBinary) => void this.onFrame(conn, data, isBinary));
    socket.on('pong', () => {
      conn.alive = true;
    });
    socket.on('close', () => this.detach(conn));
    if (this.shuttingDown) {
      socket.close(CLOSE_GOING_AWAY, 'server shutting down');
      return;
    }
    let entry = this.devices.get(topic);
    if (!entry) {
      entry = { conns: new Set(), unsubscribe: this.deps.bus.subscribe(topic, (e) => this.onEvent(topic, e as DeviceEvent)) };
      this.devices.set(topic, entry);
    }
    entry.conns.add(conn);
    this.all.add(conn);
    this.deps.metrics.websocketConnections.inc();
    this.deps.log.debug('websocket opened');

    const ttl = device.tokenExpiresAt - this.deps.now();
    if (ttl <= 0) {
      this.close(conn, CLOSE_TOKEN_EXPIRED, 'token expired');
      return;
    }
    conn.expiry = setTimeout(() => this.close(conn, CLOSE_TOKEN_EXPIRED, 'token expired'), ttl);
    conn.expiry.unref();
    void this.pump(conn);
    void this.checkPrekeys(conn);
  }

  /** Close every connection (shutdown); resolves when all are closed or after a short grace. */
  async closeAll(): Promise<void> {
    this.shuttingDown = true;
    clearInterval(this.pinger);
    await closeAllGracefully([...this.all], (c) => this.close(c, CLOSE_GOING_AWAY, 'server shutting down'));
  }

  private onEvent(topic: string, event: DeviceEvent): void {
    const entry = this.devices.get(topic);
    if (!entry) return;
    for (const conn of [...entry.conns]) {
      switch (event.type) {
        case 'message':
          void this.pump(conn);
          break;
        case 'revoked':
          conn.closed = true;
          this.sendFrame(conn.socket, { type: 'revoked' });
          this.close(conn, CLOSE_REVOKED, 'device revoked');
          break;
        case 'account-deleted':
          conn.closed = true;
          this.sendFrame(conn.socket, { type: 'account-deleted' });
          this.close(conn, CLOSE_ACCOUNT_DELETED, 'account deleted');
          break;
        case 'prekeys-low':
          this.sendFrame(conn.socket, { type: 'prekeys-low', oneTimePreKeys: event.oneTimePreKeys, pqPreKeys: event.pqPreKeys });
          break;
      }
    }
  }

  private detach(conn: Connection): void {
    conn.closed = true;
    if (conn.expiry) clearTimeout(conn.expiry);
    if (!this.all.delete(conn)) return;
    this.deps.metrics.websocketConnections.dec();
    const entry = this.devices.get(conn.topic);
    if (entry) {
      entry.conns.delete(conn);
      if (entry.conns.size === 0) {
        entry.unsubscribe();
        this.devices.delete(conn.topic);
      }
    }
    this.deps.log.debug('websocket closed');
  }

  private close(conn: Connection, code: number, reason: string): void {
    conn.closed = true;
    const s = conn.socket;
    if (s.readyState === s.OPEN || s.readyState === s.CONNECTING) s.close(code, reason);
  }

  /** Push queued messages newer than this connection's high-water mark, in order. */
  private async pump(conn: Connection): Promise<void> {
    if (conn.pumping) {
      conn.again = true;
      return;
    }
    conn.pumping = true;
    try {
      do {
        conn.again = false;
        for (;;) {
          if (conn.closed) return;
          const batch = await this.deps.storage.mailboxes.fetch(conn.user, conn.deviceId, {
            afterSeq: conn.lastSeq,
            limit: PUSH_BATCH,
            maxBytes: PUSH_BATCH_BYTES,
          });
          if (batch.length === 0) break;
          let bytes = 0;
          if (conn.batched) {
            // One frame per batch read from storage (docs/API.md §12).
            if (conn.closed) return;
            await this.send(conn, { type: 'messages', messages: batch.map(envelopeJson) });
            conn.lastSeq = (batch[batch.length - 1] as StoredMessage).seq;
            for (const m of batch) bytes += m.body.length;
            this.deps.metrics.messagesDelivered.inc({ via: 'websocket' }, batch.length);
          } else {
            for (const m of batch) {
              if (conn.closed) return;
              await this.send(conn, { type: 'message', message: envelopeJson(m) });
              conn.lastSeq = m.seq;
              bytes += m.body.length;
              this.deps.metrics.messagesDelivered.inc({ via: 'websocket' });
            }
          }
          // Cut short by neither limit: the queue held nothing more when it was read, and whatever
          // was stored since has its own wake-up (published after its commit), which set `again`
          // or starts the next pump. Saves the read that would come back empty.
          if (batch.length < PUSH_BATCH && bytes + this.deps.limits.maxMessageBytes <= PUSH_BATCH_BYTES) break;
        }
      } while (conn.again);
    } catch (err) {
      this.deps.log.warn({ err }, 'websocket push failed');
      this.close(conn, 1011, 'internal error');
    } finally {
      conn.pumping = false;
    }
  }

  private async checkPrekeys(conn: Connection): Promise<void> {
    try {
      const s = await this.deps.storage.prekeys.status(conn.user, conn.deviceId);
      const t = this.deps.limits.prekeyLowThreshold;
      if (s.oneTimePreKeys < t || s.pqPreKeys < t) {
        this.sendFrame(conn.socket, { type: 'prekeys-low', oneTimePreKeys: s.oneTimePreKeys, pqPreKeys: s.pqPreKeys });
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'prekey status check failed');
    }
  }

  private send(conn: Connection, frame: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      if (conn.socket.readyState !== conn.socket.OPEN) {
        conn.closed = true;
        resolve();
        return;
      }
      conn.socket.send(JSON.stringify(frame), (err) => (err ? reject(err) : resolve()));
    });
  }

  private sendFrame(socket: WebSocket, frame: unknown): void {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
  }

  private error(conn: Connection, message: string): void {
    this.sendFrame(conn.socket, { type: 'error', code: 'bad_request', message });
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
    if ((frame as { type?: unknown } | null)?.type === 'send') return this.onSendFrame(conn, frame);
    if (!checkAck.Check(frame)) return this.error(conn, 'expected {"type":"ack","ids":[...]}');
    const ids: Uint8Array[] = [];
    for (const id of frame.ids) {
      try {
        ids.push(decodeField(id, 'ids', { exact: 16 }));
      } catch {
        return this.error(conn, 'ids: not canonical base64url message ids');
      }
    }
    try {
      this.deps.rateLimiter?.take('acksPerDevice', `${conn.user}\u0000${conn.deviceId}`);
    } catch {
      // Not a malformed frame: the messages stay queued and come back on the next connection.
      this.sendFrame(conn.socket, { type: 'error', code: 'rate_limited', message: 'too many acks; retry later' });
      return;
    }
    try {
      // Deletes messages for good: signed by the device key, like the HTTP ack (docs/API.md §2a).
      // The nonce and the ack are one write (mailboxes.ackSigned: one statement in PostgreSQL).
      let acked = 0;
      await checkAckFrameSignature(this.deps, conn, frame.ids, frame.signature, async (nonce) => {
        const r = await this.deps.storage.mailboxes.ackSigned(conn.user, conn.deviceId, ids, nonce);
        acked = r.acked;
        return r.status;
      });
      this.deps.metrics.messagesAcked.inc(acked);
    } catch (err) {
      // Not applied, not a malformed frame: the messages stay queued and come back on the next connection.
      if (err instanceof ApiError) this.sendFrame(conn.socket, { type: 'error', code: err.code, message: err.message, ...err.extra });
      else this.deps.log.warn({ err }, 'websocket ack failed');
    }
  }

  private async onSendFrame(conn: Connection, frame: unknown): Promise<void> {
    if (!conn.onSend) return this.error(conn, 'this connection does not accept send frames');
    if (!isSendFrame(frame)) return this.error(conn, 'malformed send frame (docs/API.md §12)');
    if (conn.sendsInFlight >= MAX_SENDS_IN_FLIGHT) {
      const error = { status: 429, code: 'rate_limited', message: 'too many send frames in flight on this connection; wait for their answers' };
      this.sendFrame(conn.socket, { type: 'sent', id: frame.id, error });
      return;
    }
    conn.sendsInFlight++;
    try {
      const reply = await conn.onSend(frame);
      this.sendFrame(conn.socket, reply);
    } catch (err) {
      this.deps.log.warn({ err }, 'websocket send failed');
      this.sendFrame(conn.socket, { type: 'sent', id: frame.id, error: { status: 500, code: 'internal', message: 'internal error' } });
    } finally {
      conn.sendsInFlight--;
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
