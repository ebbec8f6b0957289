/**
 * Live receiving over the WebSocket (docs/API.md §6), with reconnects.
 *
 * On connect the relay pushes every queued message, then each new one. Frames are processed in
 * batches by the same pipeline as fetched messages (receive.ts) and acked over the socket once
 * their outcome is on disk (batches processed back to back: in one signed ack). A dropped
 * connection is retried with exponential backoff (with jitter) from `minDelayMs` up to
 * `maxDelayMs`; an expired token (close 4002) is renewed; a revocation (frame `revoked` or close
 * 4001) ends listening with RevokedError, an account deletion (frame `account-deleted` or close
 * 4003) with AccountDeletedError.
 */
import { bounds } from '@blindrelay/protocol/wire';
import { parseEnvelope, type RelayApi, type RelayEnvelope } from './api.js';
import { AccountDeletedError, RevokedError, UnreachableError } from './errors.js';
import type { BatchResult, ReceiveFailure } from './receive.js';
import type { SendChannel } from './send-channel.js';
import { BATCH_SUBPROTOCOL, CLOSE_ACCOUNT_DELETED, CLOSE_REVOKED, CLOSE_TOKEN_EXPIRED, type RelaySocket, type SocketFactory, webSocketUrl } from './socket.js';

export interface ListenOptions {
  /** Stop listening when aborted (the current batch is finished first). */
  signal?: AbortSignal;
  onFailure?: (failure: ReceiveFailure) => void;
  /** Non-fatal problems (a batch that could not be processed, a failed prekey upload...). */
  onError?: (error: Error) => void;
  onStatus?: (status: { state: 'connecting' | 'open' | 'closed'; server?: string; code?: number; retryInMs?: number }) => void;
  minDelayMs?: number;
  maxDelayMs?: number;
}

export interface ListenDeps {
  readonly api: RelayApi;
  readonly socket: SocketFactory;
  /** Decrypt and persist a batch (receive.ts), then hand new inbox messages to the application. */
  process(envelopes: RelayEnvelope[]): Promise<BatchResult>;
  onPreKeysLow(): Promise<void>;
  /** Lent the open connection for sends (send-channel.ts) when the relay speaks `blindrelay.v2`. */
  readonly channel?: SendChannel;
}

const BATCH = 100;

export async function listen(deps: ListenDeps, options: ListenOptions = {}): Promise<void> {
  const { signal } = options;
  const minDelay = options.minDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const report = (e: unknown) => options.onError?.(e instanceof Error ? e : new Error(String(e)));
  let delay = minDelay;

  while (!signal?.aborted) {
    options.onStatus?.({ state: 'connecting', server: deps.api.server });
    let session: { server: string; token: string } | undefined;
    try {
      session = await deps.api.session();
    } catch (e) {
      if (!(e instanceof UnreachableError)) throw e;
      report(e);
    }
    if (session) {
      const outcome = await connection(deps, session, options, report, () => {
        delay = minDelay;
      });
      if (outcome.deleted) throw new AccountDeletedError();
      if (outcome.revoked) throw new RevokedError();
      if (outcome.code === CLOSE_TOKEN_EXPIRED || !outcome.opened) await deps.api.forgetToken(session.server);
      options.onStatus?.({ state: 'closed', server: session.server, code: outcome.code, retryInMs: signal?.aborted ? 0 : delay });
    }
    if (signal?.aborted) break;
    const wait = delay / 2 + Math.random() * (delay / 2);
    delay = Math.min(delay * 2, maxDelay);
    await sleep(wait, signal);
  }
}

interface Outcome {
  code: number;
  opened: boolean;
  revoked: boolean;
  deleted: boolean;
}

function connection(
  deps: ListenDeps,
  session: { server: string; token: string },
  options: ListenOptions,
  report: (e: unknown) => void,
  onOpen: () => void,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const queue: RelayEnvelope[] = [];
    let draining: Promise<void> | null = null;
    let open = false;
    let opened = false;
    let revoked = false;
    let deleted = false;
    let socket: RelaySocket | undefined;

    /**
     * Relay ids processed (on disk) and not yet acked. Batches processed back to back share one
     * signed ack (each would otherwise cost a signature and a frame of its own): it goes out once no
     * more envelopes wait, before it could exceed the relay's limit, and before the socket is closed.
     * An ack that never goes out only means the relay delivers again, and seen.ts drops the copy.
     */
    let unacked: string[] = [];
    const sendAcks = async (): Promise<void> => {
      if (unacked.length === 0) return;
      const ids = unacked;
      unacked = [];
      // Signed like the HTTP ack (docs/API.md §2a, §6); over HTTP if the socket closed meanwhile.
      const frame = open ? await deps.api.ackFrame(session.server, ids) : undefined;
      if (frame !== undefined && open && socket) socket.send(frame);
      else await deps.api.ack(ids);
    };
    const drain = (): Promise<void> => {
      draining ??= (async () => {
        try {
          while (queue.length > 0) {
            const batch = queue.splice(0, BATCH);
            const r = await deps.process(batch);
            for (const f of r.failures) options.onFailure?.(f);
            unacked.push(...r.ack);
            if (queue.length === 0 || r.deferred || unacked.length + BATCH > bounds.MAX_ACK_IDS) await sendAcks();
            if (r.deferred) {
              // Leave the rest queued on the relay; reconnecting makes it push them again.
              report(r.deferred);
              queue.length = 0;
              socket?.close(1000, 'retry');
            }
            if (r.usedPreKeys) await deps.onPreKeysLow().catch(report);
          }
        } catch (e) {
          report(e);
          queue.length = 0;
          await sendAcks().catch(report);
          socket?.close(1000, 'retry');
        } finally {
          draining = null;
        }
      })();
      return draining;
    };

    const onAbort = () => socket?.close(1000, 'done');
    socket = deps.socket(webSocketUrl(session.server), session.token, {
      open(protocol) {
        open = opened = true;
        if (protocol === BATCH_SUBPROTOCOL && socket) deps.channel?.attach(session.server, socket);
        onOpen();
        options.onStatus?.({ state: 'open', server: session.server });
      },
      message(text) {
        let frame: unknown;
        try {
          frame = JSON.parse(text);
        } catch {
          return;
        }
        const f = frame as { type?: unknown; message?: unknown; messages?: unknown };
        if (f.type === 'messages' && Array.isArray(f.messages)) {
          // blindrelay.v2: a pushed batch (API.md §12).
          for (const m of f.messages) {
            try {
              queue.push(parseEnvelope(m));
            } catch (e) {
              report(e);
            }
          }
          void drain();
        } else if (f.type === 'sent') {
          deps.channel?.answer(frame as Record<string, unknown>);
        } else if (f.type === 'message') {
          try {
            queue.push(parseEnvelope(f.message));
          } catch (e) {
            report(e);
            return;
          }
          void drain();
        } else if (f.type === 'prekeys-low') {
          deps.onPreKeysLow().catch(report);
        } else if (f.type === 'revoked') {
          revoked = true;
        } else if (f.type === 'account-deleted') {
          deleted = true;
        }
      },
      close(code) {
        open = false;
        if (socket) deps.channel?.detach(socket);
        options.signal?.removeEventListener('abort', onAbort);
        void (async () => {
          await (draining ?? Promise.resolve());
          resolve({ code, opened, revoked: revoked || code === CLOSE_REVOKED, deleted: deleted || code === CLOSE_ACCOUNT_DELETED });
        })();
      },
      error(e) {
        if (!opened) report(new UnreachableError(`websocket to ${session.server}: ${e.message}`));
      },
    });
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
