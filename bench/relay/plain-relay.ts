// The benchmark peer for `npm run bench -- relay`: a plain WebSocket relay with no crypto and no
// persistence. Clients connect with ?id=NAME; a frame {"to": NAME, ...} is forwarded verbatim to
// that client's socket. Run as a child process: prints `listening on http://127.0.0.1:PORT`.
import { createServer } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';

export function startPlainRelay(port = 0): Promise<{ url: string; close: () => Promise<void> }> {
  const http = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const wss = new WebSocketServer({ server: http });
  const sockets = new Map<string, WebSocket>();
  wss.on('connection', (ws, req) => {
    const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? '';
    sockets.set(id, ws);
    ws.on('message', (data: Buffer) => {
      let to: unknown;
      try {
        to = (JSON.parse(data.toString('utf8')) as { to?: unknown }).to;
      } catch {
        return;
      }
      if (typeof to === 'string') sockets.get(to)?.send(data);
    });
    ws.on('close', () => {
      if (sockets.get(id) === ws) sockets.delete(id);
    });
  });
  return new Promise((resolve) => {
    http.listen(port, '127.0.0.1', () => {
      const address = http.address();
      const p = typeof address === 'object' && address ? address.port : port;
      resolve({
        url: `http://127.0.0.1:${p}`,
        close: () =>
          new Promise<void>((done) => {
            for (const ws of wss.clients) ws.terminate();
            wss.close();
            http.close(() => done());
          }),
      });
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const relay = await startPlainRelay(Number(process.argv[2] ?? 0));
  process.stdout.write(`listening on ${relay.url}\n`);
  process.on('SIGTERM', () => void relay.close().then(() => process.exit(0)));
}
