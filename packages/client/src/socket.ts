/**
 * The push channel (docs/API.md §6) behind a small interface, so Node (`ws`, node.ts) and browsers
 * (the built-in WebSocket with the `blindrelay.token.<token>` subprotocol) plug in the same way.
 */
export interface SocketHandlers {
  /** `protocol`: the subprotocol the relay selected (`blindrelay.v2`: batches and send frames, API.md §12). */
  open(protocol?: string): void;
  /** A text frame. */
  message(text: string): void;
  close(code: number, reason: string): void;
  error(error: Error): void;
}

export interface RelaySocket {
  send(text: string): void;
  close(code?: number, reason?: string): void;
}

/** Open an authenticated WebSocket to `url` (ws: or wss:) with the bearer token. */
export type SocketFactory = (url: string, token: string, handlers: SocketHandlers) => RelaySocket;

/** Offered first: the relay selects it if it pushes batches and takes send frames (API.md §12). */
export const BATCH_SUBPROTOCOL = 'blindrelay.v2';

export function webSocketUrl(server: string): string {
  return `${server.replace(/^http/, 'ws')}/v1/ws`;
}

/**
 * The browser WebSocket (also in Node ≥ 22): authenticates with the token subprotocol, and offers
 * `blindrelay.v1` for the relay to select so the token is not echoed back (API.md §6).
 */
export const browserSocketFactory: SocketFactory = (url, token, h) => {
  const ws = new WebSocket(url, [BATCH_SUBPROTOCOL, 'blindrelay.v1', `blindrelay.token.${token}`]);
  ws.onopen = () => h.open(ws.protocol);
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') h.message(ev.data);
  };
  ws.onclose = (ev) => h.close(ev.code, ev.reason);
  ws.onerror = () => h.error(new Error('websocket error'));
  return { send: (t) => ws.send(t), close: (c, r) => ws.close(c, r) };
};

/**
 * Open an UNAUTHENTICATED WebSocket to the relay's sealed-send endpoint (docs/API.md §11a): no
 * token, no credentials of any kind, subprotocol SEALED_SUBPROTOCOL only. Its own connection,
 * never the authenticated one (sealed-channel.ts).
 */
export type SealedSocketFactory = (url: string, handlers: SocketHandlers) => RelaySocket;

/** The sealed-send socket's subprotocol (API.md §11a). */
export const SEALED_SUBPROTOCOL = 'blindrelay.sealed.v1';

export function sealedSocketUrl(server: string): string {
  return `${server.replace(/^http/, 'ws')}/v1/sealed/ws`;
}

/** The built-in WebSocket (browsers, Node ≥ 22), offering the sealed subprotocol and nothing else. */
export const browserSealedSocketFactory: SealedSocketFactory = (url, h) => {
  const ws = new WebSocket(url, [SEALED_SUBPROTOCOL]);
  ws.onopen = () => h.open(ws.protocol);
  ws.onmessage = (ev) => {
    if (typeof ev.data === 'string') h.message(ev.data);
  };
  ws.onclose = (ev) => h.close(ev.code, ev.reason);
  ws.onerror = () => h.error(new Error('websocket error'));
  return {
    send: (t) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(t);
    },
    close: (c, r) => ws.close(c, r),
  };
};

/** Close codes of API.md §6. */
export const CLOSE_REVOKED = 4001;
export const CLOSE_TOKEN_EXPIRED = 4002;
export const CLOSE_ACCOUNT_DELETED = 4003;
