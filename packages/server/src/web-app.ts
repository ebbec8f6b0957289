/**
 * The web app (apps/web, built by Vite into apps/web/dist) served by the relay at `/`, under a
 * strict Content-Security-Policy (W3C CSP Level 3): scripts, styles, images and connections from
 * this origin only (plus the same host's WebSocket), no inline script or style, no eval, no
 * plugins, no framing, no form posts elsewhere.
 *
 * Only the files present in the build directory when the relay starts are served (a fixed map of
 * path → bytes read at start-up), so no request path ever reaches the filesystem. Without a build,
 * `/` answers 404 with a one-line hint (the API is unaffected).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/** The default build directory: apps/web/dist of this repository (from packages/server/src). */
export function defaultWebRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'apps', 'web', 'dist');
}

/** A host header we are willing to echo into `connect-src` (host name or address, optional port). */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/** The policy for the app's pages: nothing but this origin (and its WebSocket). */
export function contentSecurityPolicy(host: string | undefined): string {
  const ws = host && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    `connect-src 'self'${ws}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  'x-frame-options': 'DENY',
};

interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
  /** Vite's hashed assets never change under their name. */
  readonly immutable: boolean;
}

function collect(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else if (st.isFile() && TYPES[extname(name)]) {
        const url = `/${relative(root, path).split(sep).join('/')}`;
        files.set(url, { body: readFileSync(path), type: TYPES[extname(name)] as string, immutable: url.startsWith('/assets/') });
      }
    }
  };
  walk(root);
  return files;
}

export interface WebAppOptions {
  /** The build directory; false: no web app. Default: defaultWebRoot(). */
  readonly root?: string | false;
}

/** Register `/` and the build's files. Returns the number of files served (0: no build found). */
export function registerWebApp(app: FastifyInstance, options: WebAppOptions = {}): number {
  if (options.root === false) return 0;
  const root = options.root ?? defaultWebRoot();
  const files = existsSync(join(root, 'index.html')) ? collect(root) : new Map<string, StaticFile>();
  const send = (request: FastifyRequest, reply: FastifyReply, file: StaticFile | undefined) => {
    void reply.headers(SECURITY_HEADERS).header('content-security-policy', contentSecurityPolicy(request.headers.host));
    if (!file) {
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send('The web app is not built here: run `npm run build -w apps/web` (or `npm ci`), then restart the relay.\n');
    }
    return reply
      .type(file.type)
      .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .send(file.body);
  };
  const hide = { schema: { hide: true } };
  app.get('/', hide, (request, reply) => send(request, reply, files.get('/index.html')));
  for (const url of files.keys()) {
    if (url === '/index.html') continue;
    app.get(url, hide, (request, reply) => send(request, reply, files.get(url)));
  }
  return files.size;
}
