/**
 * Node defaults: profiles under a home directory, node:crypto primitives, `ws` for the push channel.
 *
 * Home: `options.home`, else $BLINDRELAY_HOME, else ~/.blindrelay. Profile: `options.profile`, else
 * $BLINDRELAY_PROFILE, else `default`. Passphrase: `options.passphrase`, else $BLINDRELAY_PASSPHRASE.
 */

import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { createNodePrimitives } from '@blindrelay/protocol/node';
import type WebSocketType from 'ws';
import type { ClientEnvironment } from './client.js';
import { InvalidArgumentError } from './errors.js';
import { BATCH_SUBPROTOCOL, type RelaySocket, SEALED_SUBPROTOCOL, type SealedSocketFactory, type SocketFactory, type SocketHandlers } from './socket.js';
import { FileStorage } from './storage/fs.js';

export { atomicFile, exportFileToPath, fileSource, removePartialFiles, saveFile } from './node-files.js';

export const DEFAULT_PROFILE = 'default';
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface NodeProfileOptions {
  home?: string | undefined;
  profile?: string | undefined;
  passphrase?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

export function resolveProfileDir(options: NodeProfileOptions = {}): string {
  const env = options.env ?? process.env;
  const home = options.home || env.BLINDRELAY_HOME || join(homedir(), '.blindrelay');
  const profile = options.profile || env.BLINDRELAY_PROFILE || DEFAULT_PROFILE;
  if (!PROFILE_NAME.test(profile)) throw new InvalidArgumentError('a profile name is letters, digits, ".", "_" or "-" (at most 64)');
  return join(resolve(home), profile);
}

/**
 * `ws` (and through it node:http, https, tls, zlib) is loaded when the first socket opens, not with
 * this module: commands that never listen start without it (docs/BENCHMARKS.md, "CLI start").
 */
let loadedWs: typeof WebSocketType | undefined;
function webSocketClass(): typeof WebSocketType {
  loadedWs ??= createRequire(import.meta.url)('ws') as typeof WebSocketType;
  return loadedWs;
}

/** A `ws` socket as the SDK's socket interface: text frames to `h`, sends only while open, close (terminate while connecting). */
function adapt(ws: WebSocketType, h: SocketHandlers): RelaySocket {
  const WebSocket = webSocketClass();
  ws.on('open', () => h.open(ws.protocol));
  ws.on('message', (data, isBinary) => {
    if (!isBinary) h.message(data.toString());
  });
  ws.on('close', (code, reason) => h.close(code, reason.toString()));
  ws.on('error', (e) => h.error(e));
  return {
    send: (text) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(text);
    },
    close: (code, reason) => {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code, reason);
    },
  };
}

/** The `ws` package, authenticating with the Authorization header. */
export const nodeSocketFactory: SocketFactory = (url, token, h) => {
  const WebSocket = webSocketClass();
  return adapt(new WebSocket(url, [BATCH_SUBPROTOCOL, 'blindrelay.v1'], { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: 15_000 }), h);
};

/** The `ws` package for the sealed-send socket (docs/API.md §11a): no Authorization header, no token subprotocol. */
export const nodeSealedSocketFactory: SealedSocketFactory = (url, h) => {
  const WebSocket = webSocketClass();
  return adapt(new WebSocket(url, [SEALED_SUBPROTOCOL], { handshakeTimeout: 15_000 }), h);
};

/** The client environment for a profile directory on this machine. */
export function nodeEnvironment(options: NodeProfileOptions = {}): ClientEnvironment & { profileDir: string } {
  const env = options.env ?? process.env;
  const profileDir = resolveProfileDir(options);
  const passphrase = options.passphrase ?? env.BLINDRELAY_PASSPHRASE;
  return {
    profileDir,
    primitives: createNodePrimitives(),
    storage: new FileStorage(profileDir),
    passphrase: passphrase ? passphrase : undefined,
    socket: nodeSocketFactory,
    sealedSocket: nodeSealedSocketFactory,
  };
}
