/**
 * Shutdown of a set of WebSocket connections, shared by the push hub (hub.ts) and the sealed-send
 * sockets (sealed-sockets.ts): each is closed with its own close frame, and those still open after
 * a short grace are terminated, so a client that never answers cannot hold the shutdown.
 */
import type { WebSocket } from 'ws';

/** How long closing clients get to answer the close frame. */
export const CLOSE_GRACE_MS = 1_000;

/** Closes every connection with `close`; resolves once all are closed, or after CLOSE_GRACE_MS with the rest terminated. */
export async function closeAllGracefully<C extends { readonly socket: WebSocket }>(conns: readonly C[], close: (conn: C) => void): Promise<void> {
  if (conns.length === 0) return;
  const closed = Promise.all(
    conns.map((c) => new Promise<void>((resolve) => (c.socket.readyState === c.socket.CLOSED ? resolve() : c.socket.once('close', () => resolve())))),
  );
  for (const c of conns) close(c);
  let timer: NodeJS.Timeout | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, CLOSE_GRACE_MS);
  });
  await Promise.race([closed, grace]);
  clearTimeout(timer);
  for (const c of conns) if (c.socket.readyState !== c.socket.CLOSED) c.socket.terminate();
}
