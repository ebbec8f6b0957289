/**
 * The relay HTTP API (docs/API.md) over `fetch`, with typed errors, device authentication and
 * server failover.
 *
 * - Every error answer `{code, message}` becomes its typed RelayError (errors.ts).
 * - Authenticated calls get a bearer token from the challenge/response login (API.md §2): the
 *   device signs the challenge with its signing key. Tokens are cached (per server, in the
 *   profile) until shortly before they expire, and renewed once on a 401.
 * - `servers` is an ordered list of base URLs of the same relay. A call goes to the server that
 *   last answered; on a network failure or a 502/503/504 the next one is tried. 4xx answers are
 *   final. If none answers the call fails with UnreachableError.
 * - Plain `http://` is refused (InsecureTransportError, before anything is sent) unless the host is
 *   this machine (127.0.0.0/8, ::1, localhost) or the caller opted in with `allowInsecureHttp`,
 *   which is then reported through `onWarning` (docs/API.md "Transport").
 * - Requests that destroy data (acks, file deletion and re-keying: docs/API.md §2a) are signed
 *   with the device key on every attempt (fresh timestamp and nonce); a `stale_signature` answer
 *   corrects this server's clock offset and signs once more.
 * - Every JSON answer is checked against its shape in the wire contract (`@blindrelay/protocol/wire`
 *   `shapes`, the data the relay's own schemas are built from): a field outside its bounds is a
 *   bad_response RelayError naming the field. Envelopes are checked field by field (`parseEnvelope`):
 *   one the relay cannot have sent honestly comes back marked with a `fault` and is never decrypted
 *   or parked (review L7).
 */
import { type OneTimePreKeyPublic, type PqPreKeyPublic, type SignedPreKeyPublic, utf8 } from '@blindrelay/protocol';
import { bounds, conforms, decodeBytes, type Shape, shapes, type WireValue, wireFault } from '@blindrelay/protocol/wire';
import { fromBase64url, toBase64url } from './base64url.js';
import {
  InsecureTransportError,
  InvalidArgumentError,
  NoSuchUserError,
  NotFoundError,
  NotRegisteredError,
  RateLimitedError,
  RelayError,
  RequestSignatureError,
  relayError,
  UnreachableError,
} from './errors.js';

export interface DeviceCredentials {
  readonly user: string;
  readonly deviceId: number;
  /** The device signing key's signature over the challenge (signAuthChallenge). */
  signChallenge(challenge: Uint8Array): Promise<Uint8Array>;
  /**
   * The `Blindrelay-Signature` header of a request that destroys data (docs/API.md §2a), made with
   * the device signing key at `timestamp` (request-signing.ts). Without it those calls throw.
   */
  signRequest?(method: string, path: string, body: Uint8Array, timestamp: number): Promise<string>;
}

export interface Token {
  readonly token: string;
  readonly expiresAt: number;
}
/** Where tokens are kept between runs (the profile's `tokens` record, or memory). */
export interface TokenCache {
  get(server: string): Promise<Token | undefined>;
  set(server: string, token: Token | undefined): Promise<void>;
}

export function memoryTokenCache(): TokenCache {
  const m = new Map<string, Token>();
  return {
    get: async (s) => m.get(s),
    set: async (s, t) => {
      if (t) m.set(s, t);
      else m.delete(s);
    },
  };
}

export interface PreKeyUpload {
  signedPreKey?: SignedPreKeyPublic;
  oneTimePreKeys?: readonly OneTimePreKeyPublic[];
  pqPreKeys?: readonly PqPreKeyPublic[];
  lastResortPqPreKey?: PqPreKeyPublic;
}

export interface RelayEnvelope {
  readonly id: string;
  readonly from: string;
  readonly fromDevice: number;
  readonly body: Uint8Array;
  readonly sentAt: number;
  /**
   * A sealed message (docs/API.md §11): the relay holds no sender (`from` '' and `fromDevice` 0
   * here) and `body` is a sealed envelope; receive.ts opens it and takes the sender from inside.
   */
  readonly sealed?: boolean;
  /**
   * Set when a field is not one the relay can have sent honestly (a user name, device id, message
   * id, time or body out of range): the envelope is reported and acknowledged, never decrypted or
   * parked. The faulty fields are blanked ('' / 0 / empty).
   */
  readonly fault?: string;
}

/** The failure code of an envelope with a `fault` (receive.ts reports it; review L7). */
export const RELAY_ENVELOPE_FAULT = 'ERR_RELAY_ENVELOPE';

export interface RelayApiOptions {
  servers: readonly string[];
  credentials?: DeviceCredentials;
  tokens?: TokenCache;
  fetch?: typeof fetch;
  /** Per-request timeout (default 20 s); long polls add their wait. */
  timeoutMs?: number;
  /** Allow plain http:// to hosts other than this machine (warned about through `onWarning`). */
  allowInsecureHttp?: boolean;
  /** Where warnings go (default: console.warn, i.e. stderr on Node). */
  onWarning?: (message: string) => void;
}

/** A signed send mark (send-mark.ts), carried by a send (docs/API.md §5a). */
export interface SendMarkStamp {
  readonly value: number;
  readonly signature: Uint8Array;
}

/** Most files `listFiles` accepts from the relay (its per-owner cap is 10 000; shared files come on top). */
const MAX_LISTED_FILES = 100_000;

/** Renew tokens this long before the relay's expiry. */
const TOKEN_MARGIN_MS = 60_000;

class NetworkFailure extends Error {
  /** The connection broke under an idle keep-alive socket, before any answer: worth one retry. */
  retry = false;
  /** A 503 with Retry-After (seconds): the server is up but briefly unable to answer. */
  retryAfter: number | null = null;
}
/** Longest Retry-After of a 503 worth waiting for before one more round over the servers. */
const MAX_UNAVAILABLE_WAIT_S = 5;
/** Socket errors that typically mean a reused keep-alive connection was closed by the server. */
const STALE_SOCKET = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

export interface TransportOptions {
  /** Accept plain http:// to a host that is not this machine. */
  readonly allowInsecureHttp?: boolean | undefined;
}

/**
 * Whether a URL host (as WHATWG URL writes it) is this machine: 127.0.0.0/8, [::1] (also as
 * IPv4-mapped [::ffff:127.x.y.z]) or `localhost` (RFC 6761 §6.3). Any other name could resolve
 * anywhere.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h === '[::1]') return true;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)) return true;
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}\]$/.exec(h);
  return mapped !== null && Number.parseInt(mapped[1] as string, 16) >> 8 === 0x7f;
}

/** True for a plain-http URL to a host that is not this machine (it needs `allowInsecureHttp`). */
export function isInsecureServer(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && !isLoopbackHost(u.hostname);
}

/**
 * Validate and normalise a server base URL: https (http only to this machine, or with
 * `allowInsecureHttp`: else InsecureTransportError), no query or fragment, no trailing slash.
 */
export function normalizeServerUrl(url: string, options: TransportOptions = {}): string {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    // "127.0.0.1:8787" parses as nothing useful: suggest the scheme (review ux-2026-12 F15).
    const hint = /^[a-z0-9.-]+(:\d+)?(\/.*)?$/i.test(url.trim()) ? ` (did you mean http://${url.trim()} or https://${url.trim()}?)` : '';
    throw new InvalidArgumentError(`not a server URL: ${url}${hint}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`server URL must be http or https: ${url}`);
  if (u.search || u.hash || u.username || u.password) throw new InvalidArgumentError(`server URL must not have credentials, a query or a fragment: ${url}`);
  if (u.protocol === 'http:' && !isLoopbackHost(u.hostname) && !options.allowInsecureHttp) throw new InsecureTransportError(u.origin);
  return u.toString().replace(/\/+$/, '');
}

/** Parse a comma-separated list of server URLs (each checked as normalizeServerUrl does). */
export function parseServerList(list: string | readonly string[], options: TransportOptions = {}): string[] {
  const items = (typeof list === 'string' ? list.split(',') : [...list]).map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new InvalidArgumentError('at least one server URL is required');
  return [...new Set(items.map((u) => normalizeServerUrl(u, options)))];
}

/** Servers already warned about in this process (one warning per insecure server, not per client). */
const warnedInsecure = new Set<string>();

const b64 = toBase64url;
function badResponse(what: string): RelayError {
  return new RelayError('ERR_RELAY', 200, 'bad_response', `relay: malformed response (${what})`);
}
/** A JSON answer checked against its wire shape, or a bad_response naming the first faulty field. */
export function answer<S extends Shape>(shape: S, value: unknown, what: string): WireValue<S> {
  const fault = wireFault(shape, value);
  if (fault !== undefined) throw badResponse(`${what}: ${fault}`);
  return value as WireValue<S>;
}
/** A request body as the wire contract's request shape describes it (the relay's body schema is built from the same shape). */
export type Body<S> = WireValue<S>;
/** The bytes of a base64url field `answer` already checked (canonical, within bounds: cannot fail). */
export const bytesOf = (text: string): Uint8Array => fromBase64url(text);
/** The relay's "unknown user" answer, with the user named (review ux-2026-12 F8): same type and code. */
const namingUser =
  (user: string) =>
  (e: unknown): never => {
    if (e instanceof NoSuchUserError)
      throw new NoSuchUserError('ERR_NO_SUCH_USER', e.status, e.relayCode, `unknown user: ${user} (no account of that name on the relay)`);
    throw e;
  };
const rethrow = (e: unknown): never => {
  throw e;
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function uploadJson(u: PreKeyUpload): Body<typeof shapes.PREKEY_UPLOAD> {
  const out: Body<typeof shapes.PREKEY_UPLOAD> = {};
  if (u.signedPreKey) out.signedPreKey = { id: u.signedPreKey.id, publicKey: b64(u.signedPreKey.publicKey), signature: b64(u.signedPreKey.signature) };
  if (u.oneTimePreKeys) out.oneTimePreKeys = u.oneTimePreKeys.map((k) => ({ id: k.id, publicKey: b64(k.publicKey) }));
  if (u.pqPreKeys) out.pqPreKeys = u.pqPreKeys.map((k) => ({ id: k.id, publicKey: b64(k.publicKey), signature: b64(k.signature) }));
  if (u.lastResortPqPreKey)
    out.lastResortPqPreKey = { id: u.lastResortPqPreKey.id, publicKey: b64(u.lastResortPqPreKey.publicKey), signature: b64(u.lastResortPqPreKey.signature) };
  return out;
}

const ENVELOPE = shapes.MESSAGE_ENVELOPE.props;

/**
 * An envelope as the relay sent it (docs/API.md §5), every field checked against the wire
 * contract's shape (the relay's own schema is built from it): `from` a user name, `fromDevice` in
 * 1 … 2^32−1, a message id, a time, a body of 1 byte … 1.25 MiB. Never throws: an envelope failing
 * any check comes back with `fault` set and the failing fields blanked, so the caller drops it as
 * one counted failure (review L7).
 */
export function parseEnvelope(v: unknown): RelayEnvelope {
  const o = isObject(v) ? v : {};
  const { id, from, fromDevice, sentAt } = o;
  const bad: string[] = [];
  if (!isObject(v)) bad.push('not an object');
  const sealed = o.sealed === true && from === undefined && fromDevice === undefined;
  const okId = conforms(ENVELOPE.id, id);
  const okFrom = conforms(ENVELOPE.from.of, from);
  const okDevice = conforms(ENVELOPE.fromDevice.of, fromDevice);
  const okSentAt = conforms(ENVELOPE.sentAt, sentAt);
  const bytes = decodeBytes(ENVELOPE.body, o.body);
  if (isObject(v)) {
    if (!okId) bad.push('id');
    if (!okFrom && !sealed) bad.push('from');
    if (!okDevice && !sealed) bad.push('fromDevice');
    if (!okSentAt) bad.push('sentAt');
    if (!bytes) bad.push('body');
    if (o.sealed !== undefined && !conforms(ENVELOPE.sealed.of, o.sealed)) bad.push('sealed');
  }
  const envelope: RelayEnvelope = {
    id: okId ? id : '',
    from: okFrom ? from : '',
    fromDevice: okDevice ? fromDevice : 0,
    sentAt: okSentAt ? sentAt : 0,
    body: bytes ?? new Uint8Array(0),
    ...(sealed ? { sealed: true } : {}),
  };
  return bad.length === 0 ? envelope : { ...envelope, fault: `the relay sent a malformed envelope (${bad.join(', ')}); dropped` };
}

interface CallOptions {
  body?: unknown;
  /** Sent as-is, `application/octet-stream` (file payload chunks). */
  raw?: Uint8Array;
  auth?: boolean;
  /** Destroys data: signed with the device key (docs/API.md §2a). Implies `auth`. */
  signed?: boolean;
  timeoutMs?: number;
}

/** The request body's bytes exactly as #exchange sends them (what a request signature covers). */
const bodyBytes = (body: unknown): Uint8Array => (body === undefined ? new Uint8Array(0) : body instanceof Uint8Array ? body : utf8(JSON.stringify(body)));
/** The relay's clock is trusted for signing only when it differs from ours by more than this (its Date header has 1 s resolution). */
const CLOCK_SKEW_MS = 30_000;

/** A file as the relay describes it (docs/API.md §8): public routing facts and opaque ciphertext. */
export interface RelayFile {
  readonly id: string;
  readonly owner: string;
  readonly readers: readonly string[];
  readonly revision: number;
  readonly version: number;
  /** The age header of the current version (stanzas + MAC). */
  readonly header: Uint8Array;
  /** Encrypted metadata (files.ts). */
  readonly meta: Uint8Array;
  readonly payloadSize: number;
  readonly received: number;
  readonly complete: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The owner's seal of the current version (docs/PROTOCOL.md §15.4), once complete; absent for versions stored before seals. */
  readonly seal?: Uint8Array;
  /** Owner only: a new version being uploaded (revocation), with its header and encrypted metadata. */
  readonly pending?: {
    readonly version: number;
    readonly payloadSize: number;
    readonly received: number;
    readonly header?: Uint8Array;
    readonly meta?: Uint8Array;
  };
}

/** The keys of a user as GET /v1/users/:user (or the sealed lookup) answered them, checked. */
function userKeys(d: WireValue<typeof shapes.USER_KEYS>): { user: string; masterKey: Uint8Array; deviceList: Uint8Array; rotation?: Uint8Array } {
  const base = { user: d.user, masterKey: bytesOf(d.masterKey), deviceList: bytesOf(d.deviceList) };
  return d.rotation === undefined ? base : { ...base, rotation: bytesOf(d.rotation) };
}

/** A file as the relay described it, checked against the wire contract's FILE_INFO. */
function parseFile(v: unknown): RelayFile {
  const f = answer(shapes.FILE_INFO, v, 'file');
  const { pending } = f;
  return {
    id: f.id,
    owner: f.owner,
    readers: f.readers,
    revision: f.revision,
    version: f.version,
    header: bytesOf(f.header),
    meta: bytesOf(f.meta),
    payloadSize: f.payloadSize,
    received: f.received,
    complete: f.complete,
    createdAt: f.createdAt,
    updatedAt: f.updatedAt,
    ...(f.seal === undefined ? {} : { seal: bytesOf(f.seal) }),
    ...(pending === undefined
      ? {}
      : {
          pending: {
            version: pending.version,
            payloadSize: pending.payloadSize,
            received: pending.received,
            header: bytesOf(pending.header),
            meta: bytesOf(pending.meta),
          },
        }),
  };
}

/** A download in progress: the response body and the byte range it covers. */
export interface PayloadDownload {
  readonly body: ReadableStream<Uint8Array>;
  /** First byte of the payload in `body`. */
  readonly start: number;
  /** Bytes in `body`. */
  readonly length: number;
}

export class RelayApi {
  readonly servers: readonly string[];
  readonly #credentials: DeviceCredentials | undefined;
  readonly #tokens: TokenCache;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  /** Per server: its clock minus ours (ms), when they differ enough to matter for signed requests. */
  readonly #clockOffset = new Map<string, number>();
  /** Logins under way, per server (#login). */
  readonly #logins = new Map<string, Promise<string>>();
  #preferred = 0;

  constructor(options: RelayApiOptions) {
    this.servers = parseServerList(options.servers, { allowInsecureHttp: options.allowInsecureHttp });
    this.#credentials = options.credentials;
    this.#tokens = options.tokens ?? memoryTokenCache();
    this.#fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.#timeoutMs = options.timeoutMs ?? 20_000;
    const warn = options.onWarning ?? ((m: string) => console.warn(m));
    for (const server of this.servers.filter(isInsecureServer)) {
      if (warnedInsecure.has(server)) continue;
      warnedInsecure.add(server);
      warn(
        `warning: ${server} is plain http:// to another machine (allowed by --insecure-http / allowInsecureHttp): bearer tokens, metadata and key-directory answers cross the network unencrypted and can be changed on the way`,
      );
    }
  }

  /** The server that answered last (or the first one). */
  get server(): string {
    return this.servers[this.#preferred] as string;
  }

  // ---- transport -------------------------------------------------------------------------------

  /** One HTTP exchange with one server; NetworkFailure if it did not answer usefully. */
  async #exchange(server: string, method: string, path: string, body: unknown, token: string | undefined, timeoutMs: number, signature?: string) {
    const headers: Record<string, string> = { accept: 'application/json' };
    const raw = body instanceof Uint8Array;
    if (body !== undefined) headers['content-type'] = raw ? 'application/octet-stream' : 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    if (signature) headers['blindrelay-signature'] = signature;
    let res: Response;
    try {
      res = await this.#fetch(`${server}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : raw ? (body as Uint8Array<ArrayBuffer>) : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const detail = cause?.code ?? cause?.message ?? (e as Error).message;
      const failure = new NetworkFailure(`${server}: ${detail}`, { cause: e });
      failure.retry = cause?.code !== undefined && STALE_SOCKET.has(cause.code);
      throw failure;
    }
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      await res.body?.cancel();
      const failure = new NetworkFailure(`${server}: HTTP ${res.status}`);
      const after = Number.parseInt(res.headers.get('retry-after') ?? '', 10);
      if (res.status === 503 && Number.isFinite(after) && after >= 0) failure.retryAfter = after;
      throw failure;
    }
    this.#noteServerDate(server, res.headers.get('date'));
    const text = await res.text();
    let data: unknown;
    if (text.length > 0) {
      try {
        data = JSON.parse(text);
      } catch {
        if (res.ok) throw badResponse('not JSON');
      }
    }
    const retryAfter = Number.parseInt(res.headers.get('retry-after') ?? '', 10);
    return { status: res.status, ok: res.ok, data, retryAfter: Number.isFinite(retryAfter) ? retryAfter : null };
  }

  /** A far-off clock (its Date header) is learnt before any signed request, so WebSocket acks are signed in its time too. */
  #noteServerDate(server: string, date: string | null): void {
    if (this.#clockOffset.has(server) || !date) return;
    const at = Date.parse(date);
    if (Number.isFinite(at) && Math.abs(at - Date.now()) > CLOCK_SKEW_MS) this.#clockOffset.set(server, at - Date.now());
  }

  /** The Blindrelay-Signature of one attempt of a request (docs/API.md §2a): a fresh time and nonce each time. */
  async #signature(server: string, method: string, path: string, body: unknown): Promise<string> {
    const sign = this.#credentials?.signRequest;
    if (!sign) throw new InvalidArgumentError('this call deletes data on the relay and needs the device signing key (credentials.signRequest)');
    return sign(method, path, bodyBytes(body), Date.now() + (this.#clockOffset.get(server) ?? 0));
  }

  /**
   * A bearer token for `server`. Requests made side by side (a first send's lookups, send.ts) share
   * one login: one challenge/response per server at a time, not one per request.
   */
  #login(server: string): Promise<string> {
    let pending = this.#logins.get(server);
    if (!pending) {
      const started = this.#loginOnce(server).finally(() => {
        if (this.#logins.get(server) === started) this.#logins.delete(server);
      });
      this.#logins.set(server, started);
      pending = started;
    }
    return pending;
  }

  /** After a 401: the cached token is dropped and a login under way (which may have read it) is not joined. */
  async #dropToken(server: string): Promise<void> {
    this.#logins.delete(server);
    await this.#tokens.set(server, undefined);
  }

  async #loginOnce(server: string): Promise<string> {
    const creds = this.#credentials;
    if (!creds) throw new InvalidArgumentError('this call needs a registered device');
    const cached = await this.#tokens.get(server);
    if (cached && cached.expiresAt - TOKEN_MARGIN_MS > Date.now()) return cached.token;
    const ident: Body<typeof shapes.CHALLENGE_REQUEST> = { user: creds.user, deviceId: creds.deviceId };
    const ch = await this.#exchange(server, 'POST', '/v1/auth/challenge', ident, undefined, this.#timeoutMs);
    if (!ch.ok) {
      const err = relayError(ch.status, ch.data);
      throw err instanceof NotFoundError ? new NotRegisteredError(creds.user, creds.deviceId) : err;
    }
    const challenge = bytesOf(answer(shapes.AUTH_CHALLENGE, ch.data, 'challenge').challenge);
    const signature = await creds.signChallenge(challenge);
    const proof: Body<typeof shapes.TOKEN_REQUEST> = { ...ident, challenge: b64(challenge), signature: b64(signature) };
    const tk = await this.#exchange(server, 'POST', '/v1/auth/token', proof, undefined, this.#timeoutMs);
    if (!tk.ok) {
      const err = relayError(tk.status, tk.data);
      throw err instanceof NotFoundError ? new NotRegisteredError(creds.user, creds.deviceId) : err;
    }
    const a = answer(shapes.AUTH_TOKEN, tk.data, 'token');
    const token = { token: a.token, expiresAt: a.expiresAt };
    await this.#tokens.set(server, token);
    return token.token;
  }

  /** A call with failover; returns the status and parsed JSON of a 2xx answer, throws otherwise. */
  async #call(method: string, path: string, opts: CallOptions = {}): Promise<{ status: number; data: unknown }> {
    const failures: string[] = [];
    // A round over every server; one more after waiting if a server said 503 with a short Retry-After
    // (e.g. its database connection dropped: docs/DEPLOY.md), so a single-URL client retries too.
    for (let round = 0; round < 2; round++) {
      let wait: number | null = null;
      const result = await this.#round(method, path, opts, failures, (s) => {
        if (wait === null || s < wait) wait = s;
      });
      if (result) return result;
      if (wait === null || wait > MAX_UNAVAILABLE_WAIT_S) break;
      await new Promise((r) => setTimeout(r, Math.max(200, (wait as number) * 1000)));
    }
    throw new UnreachableError(`no relay server answered (${failures.join('; ')})`);
  }

  /** One pass over the servers in preference order; undefined if none answered. */
  async #round(
    method: string,
    path: string,
    opts: CallOptions,
    failures: string[],
    onUnavailable: (retryAfterSeconds: number) => void,
  ): Promise<{ status: number; data: unknown } | undefined> {
    for (let i = 0; i < this.servers.length; i++) {
      const index = (this.#preferred + i) % this.servers.length;
      const server = this.servers[index] as string;
      for (let retried = false; ; retried = true) {
        try {
          const body = opts.raw ?? opts.body;
          const auth = opts.auth || opts.signed;
          const timeout = opts.timeoutMs ?? this.#timeoutMs;
          const signature = () => (opts.signed ? this.#signature(server, method, path, body) : Promise.resolve(undefined));
          let token = auth ? await this.#login(server) : undefined;
          let r = await this.#exchange(server, method, path, body, token, timeout, await signature());
          const code = r.status === 401 && isObject(r.data) && typeof r.data.code === 'string' ? r.data.code : undefined;
          if (r.status === 401 && auth && (code === undefined || code === 'unauthorized')) {
            await this.#dropToken(server);
            token = await this.#login(server);
            r = await this.#exchange(server, method, path, body, token, timeout, await signature());
          } else if (code === 'stale_signature' && opts.signed) {
            // Our clock is off: sign again in the relay's time (once).
            const err = relayError(r.status, r.data);
            if (err instanceof RequestSignatureError && err.serverTime !== undefined) {
              this.#clockOffset.set(server, err.serverTime - Date.now());
              r = await this.#exchange(server, method, path, body, token, timeout, await signature());
            }
          }
          this.#preferred = index;
          if (!r.ok) {
            const err = relayError(r.status, r.data);
            if (err instanceof RateLimitedError && r.retryAfter !== null) err.retryAfterSeconds = r.retryAfter;
            throw err;
          }
          return { status: r.status, data: r.data };
        } catch (e) {
          if (!(e instanceof NetworkFailure)) throw e;
          // A retried send may reach the relay twice: receivers drop the identical ciphertext.
          if (e.retry && !retried) continue;
          if (e.retryAfter !== null) onUnavailable(e.retryAfter);
          failures.push(e.message);
          break;
        }
      }
    }
    return undefined;
  }

  async #json(method: string, path: string, opts: CallOptions = {}): Promise<Record<string, unknown>> {
    const r = await this.#call(method, path, opts);
    if (!isObject(r.data)) throw badResponse(path);
    return r.data;
  }

  /** One JSON call with failover, for feature modules with their own routes (backup/backup-api.ts); `auth`: with this device's token. */
  request(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, auth = false): Promise<Record<string, unknown>> {
    return this.#json(method, path, { ...(body === undefined ? {} : { body }), auth });
  }

  // ---- §1 accounts -------------------------------------------------------------------------------

  async createAccount(req: {
    user: string;
    masterKey: Uint8Array;
    deviceList: Uint8Array;
    prekeys: PreKeyUpload;
  }): Promise<{ user: string; deviceId: number }> {
    const body: Body<typeof shapes.ACCOUNT_REQUEST> = {
      user: req.user,
      masterKey: b64(req.masterKey),
      deviceList: b64(req.deviceList),
      prekeys: uploadJson(req.prekeys),
    };
    const d = await this.#json('POST', '/v1/accounts', { body });
    const a = answer(shapes.ACCOUNT_CREATED, d, 'account');
    return { user: a.user, deviceId: a.deviceId };
  }

  // ---- §2 authentication -------------------------------------------------------------------------

  /** A bearer token for the preferred server (logging in if needed), and that server. */
  async session(): Promise<{ server: string; token: string }> {
    const failures: string[] = [];
    for (let i = 0; i < this.servers.length; i++) {
      const index = (this.#preferred + i) % this.servers.length;
      const server = this.servers[index] as string;
      for (let retried = false; ; retried = true) {
        try {
          const token = await this.#login(server);
          this.#preferred = index;
          return { server, token };
        } catch (e) {
          if (!(e instanceof NetworkFailure)) throw e;
          if (e.retry && !retried) continue;
          failures.push(e.message);
          break;
        }
      }
    }
    throw new UnreachableError(`no relay server answered (${failures.join('; ')})`);
  }

  /** Forget the cached token of a server (after the relay closed a socket for an expired token). */
  async forgetToken(server: string): Promise<void> {
    await this.#dropToken(server);
  }

  // ---- §3 directory ------------------------------------------------------------------------------

  /** `rotation`: the newest master-key rotation statement, when the user's key ever rotated (PROTOCOL.md §16.4). */
  async getUser(user: string): Promise<{ user: string; masterKey: Uint8Array; deviceList: Uint8Array; rotation?: Uint8Array }> {
    const d = await this.#json('GET', `/v1/users/${encodeURIComponent(user)}`, { auth: true }).catch(namingUser(user));
    return userKeys(answer(shapes.USER_KEYS, d, 'user'));
  }

  /** The same as getUser, not authenticated: the lookup is authorised by a delivery token of one of the user's devices (docs/API.md §11). */
  async getUserSealed(
    user: string,
    deviceId: number,
    token: Uint8Array,
  ): Promise<{ user: string; masterKey: Uint8Array; deviceList: Uint8Array; rotation?: Uint8Array }> {
    const body: Body<typeof shapes.SEALED_DIRECTORY_REQUEST> = { user, deviceId, token: b64(token) };
    const d = await this.#json('POST', '/v1/sealed/directory', { body });
    return userKeys(answer(shapes.USER_KEYS, d, 'user'));
  }

  /**
   * Delete our account (docs/API.md §1a): the master key's deletion statement (PROTOCOL.md §17),
   * in a request signed with the device key (§2a).
   */
  async deleteAccount(statement: { timestamp: number; nonce: Uint8Array; listDigest: Uint8Array; signature: Uint8Array }): Promise<void> {
    const body: Body<typeof shapes.ACCOUNT_DELETION_REQUEST> = {
      timestamp: statement.timestamp,
      nonce: b64(statement.nonce),
      listDigest: b64(statement.listDigest),
      signature: b64(statement.signature),
    };
    await this.#call('POST', '/v1/accounts/deletion', { body, signed: true });
  }

  async putDeviceList(user: string, deviceList: Uint8Array, newDevice?: { deviceId: number; prekeys: PreKeyUpload }, rotation?: Uint8Array): Promise<void> {
    const body: Body<typeof shapes.DEVICE_LIST_REQUEST> = { deviceList: b64(deviceList) };
    if (newDevice) body.newDevice = { deviceId: newDevice.deviceId, prekeys: uploadJson(newDevice.prekeys) };
    if (rotation) body.rotation = b64(rotation);
    await this.#call('PUT', `/v1/users/${encodeURIComponent(user)}/device-list`, { body });
  }

  async uploadPreKeys(upload: PreKeyUpload): Promise<void> {
    await this.#call('POST', '/v1/prekeys', { body: uploadJson(upload), auth: true });
  }

  async preKeyStatus(): Promise<{ oneTimePreKeys: number; pqPreKeys: number; signedPreKeyId: number | null; lastResortPqPreKeyId: number | null }> {
    const d = await this.#json('GET', '/v1/prekeys/status', { auth: true });
    return answer(shapes.PREKEY_STATUS, d, 'prekey status');
  }

  async bundles(
    user: string,
    deviceIds?: readonly number[],
  ): Promise<{ deviceListVersion: number; bundles: { deviceId: number; bundle: Uint8Array }[]; unavailable: number[] }> {
    const body: Body<typeof shapes.PREKEY_BUNDLES_REQUEST> = deviceIds ? { deviceIds: [...deviceIds] } : {};
    const d = await this.#json('POST', `/v1/users/${encodeURIComponent(user)}/bundles`, { body, auth: true }).catch(namingUser(user));
    const a = answer(shapes.PREKEY_BUNDLES, d, 'bundles');
    return {
      deviceListVersion: a.deviceListVersion,
      bundles: a.bundles.map((b) => ({ deviceId: b.deviceId, bundle: bytesOf(b.bundle) })),
      unavailable: a.unavailable,
    };
  }

  // ---- §5 messages -------------------------------------------------------------------------------

  /** `mark`: this send's signed send mark (docs/API.md §5a); a lower one than the relay holds is SendMarkStaleError. */
  async sendMessages(
    to: string,
    messages: readonly { deviceId: number; body: Uint8Array }[],
    mark?: SendMarkStamp,
  ): Promise<{ ids: string[]; sentAt: number }> {
    const body: Body<typeof shapes.MESSAGE_SEND_REQUEST> = { to, messages: messages.map((m) => ({ deviceId: m.deviceId, body: b64(m.body) })) };
    if (mark) body.sendMark = { value: mark.value, signature: b64(mark.signature) };
    const d = await this.#json('POST', '/v1/messages', { body, auth: true });
    return answer(shapes.SEND_RESULT, d, 'send');
  }

  /**
   * A sealed send (docs/API.md §11): NOT authenticated, no bearer token, no signature, nothing of
   * this device in the request; each entry carries the recipient device's delivery token.
   */
  async sendSealed(to: string, messages: readonly { deviceId: number; token: Uint8Array; body: Uint8Array }[]): Promise<{ ids: string[]; sentAt: number }> {
    const body: Body<typeof shapes.SEALED_SEND_REQUEST> = {
      to,
      messages: messages.map((m) => ({ deviceId: m.deviceId, token: b64(m.token), body: b64(m.body) })),
    };
    const d = await this.#json('POST', '/v1/sealed/messages', { body });
    return answer(shapes.SEND_RESULT, d, 'sealed send');
  }

  /** Set this device's current delivery token on the relay by its verifier (signed request): `rotate` keeps the previous ones for a grace period, `revoke` ends them now. */
  async setDeliveryToken(verifier: Uint8Array, mode: 'rotate' | 'revoke'): Promise<void> {
    const body: Body<typeof shapes.DELIVERY_TOKEN_REQUEST> = { verifier: b64(verifier), mode };
    await this.#call('PUT', '/v1/sealed/token', { body, signed: true });
  }

  /** Queued envelopes, oldest first; each checked by parseEnvelope (a malformed one has `fault` set). */
  async fetchMessages(limit = 100): Promise<RelayEnvelope[]> {
    const d = await this.#json('GET', `/v1/messages?limit=${limit}`, { auth: true });
    // The page's own bounds here; each envelope by parseEnvelope (one bad envelope is dropped, not the page).
    const { messages } = d;
    if (!Array.isArray(messages) || messages.length > Math.min(limit, shapes.MESSAGE_PAGE.props.messages.maxItems ?? limit)) throw badResponse('messages');
    return messages.map(parseEnvelope);
  }

  /** Delete queued messages (signed: docs/API.md §2a). */
  async ack(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += bounds.MAX_ACK_IDS) {
      const body: Body<typeof shapes.MESSAGE_ACK_REQUEST> = { ids: ids.slice(i, i + bounds.MAX_ACK_IDS) };
      await this.#call('POST', '/v1/messages/ack', { body, signed: true });
    }
  }

  /** A WebSocket ack frame for `server` (docs/API.md §6): the signed HTTP ack, sent over the socket. */
  async ackFrame(server: string, ids: readonly string[]): Promise<string> {
    const body: Body<typeof shapes.MESSAGE_ACK_REQUEST> = { ids: [...ids] };
    return JSON.stringify({ type: 'ack', ...body, signature: await this.#signature(server, 'POST', '/v1/messages/ack', body) });
  }

  /** The send mark the relay holds for this device and the device's signature over it (docs/API.md §5a). */
  async sendMark(): Promise<{ mark: number; signature: Uint8Array | null }> {
    const d = await this.#json('GET', '/v1/send-mark', { auth: true });
    const a = answer(shapes.SEND_MARK, d, 'send mark');
    if (a.mark === 0) return { mark: 0, signature: null };
    if (a.signature === null) throw badResponse('send mark: signature');
    return { mark: a.mark, signature: bytesOf(a.signature) };
  }

  // ---- §8 files ----------------------------------------------------------------------------------

  /**
   * docs/API.md §10 (records/): one JSON call under /v1/collections with this device's token
   * (signed when `signed`), the relay's errors mapped as for every other call. Returns the JSON
   * body, or undefined for 204.
   */
  async collections(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown, signed = false): Promise<Record<string, unknown> | undefined> {
    if (!path.startsWith('/v1/collections')) throw new InvalidArgumentError('not a collections path');
    const r = await this.#call(method, path, { auth: true, ...(body === undefined ? {} : { body }), ...(signed ? { signed: true } : {}) });
    if (r.status === 204) return undefined;
    if (!isObject(r.data)) throw badResponse(path);
    return r.data;
  }

  /**
   * docs/API.md §13 (groups/): one JSON call under /v1/groups with this device's token (signed
   * when `signed`), the relay's errors mapped as for every other call. Returns the JSON body, or
   * undefined for 204.
   */
  async groups(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, signed = false): Promise<Record<string, unknown> | undefined> {
    if (!path.startsWith('/v1/groups')) throw new InvalidArgumentError('not a groups path');
    const r = await this.#call(method, path, { auth: true, ...(body === undefined ? {} : { body }), ...(signed ? { signed: true } : {}) });
    if (r.status === 204) return undefined;
    if (!isObject(r.data)) throw badResponse(path);
    return r.data;
  }

  async createFile(req: {
    /** The new file's id (16 random bytes, base64url), chosen by the client: the owner signs it (docs/PROTOCOL.md §15.3). */
    id?: string;
    header: Uint8Array;
    meta: Uint8Array;
    payloadSize: number;
    readers: readonly string[];
  }): Promise<{ id: string; version: number; revision: number }> {
    const body: Body<typeof shapes.FILE_CREATE_REQUEST> = {
      ...(req.id === undefined ? {} : { id: req.id }),
      header: b64(req.header),
      meta: b64(req.meta),
      payloadSize: req.payloadSize,
      readers: [...req.readers],
    };
    const d = await this.#json('POST', '/v1/files', { body, auth: true });
    const a = answer(shapes.FILE_CREATED, d, 'file');
    if (req.id !== undefined && a.id !== req.id) throw badResponse('file: another id than the one asked for');
    return { id: a.id, version: a.version, revision: a.revision };
  }

  /**
   * Append payload bytes at `offset` (which must be what the relay holds: else OffsetMismatchError).
   * `seal`: the owner's seal of the version, on the request that completes it (docs/API.md §8).
   */
  async putPayload(id: string, version: number, offset: number, bytes: Uint8Array, seal?: Uint8Array): Promise<{ received: number; complete: boolean }> {
    const query = `offset=${offset}${seal ? `&seal=${b64(seal)}` : ''}`;
    const d = await this.#json('PUT', `/v1/files/${encodeURIComponent(id)}/versions/${version}/payload?${query}`, {
      raw: bytes,
      auth: true,
      timeoutMs: this.#timeoutMs + 120_000,
    });
    return answer(shapes.PAYLOAD_PROGRESS, d, 'payload');
  }

  async getFile(id: string): Promise<RelayFile> {
    const file = parseFile(await this.#json('GET', `/v1/files/${encodeURIComponent(id)}`, { auth: true }));
    // Another file in place of the one asked for would make share/revoke act on a file never chosen.
    if (file.id !== id) throw badResponse('file: another file than the one asked for');
    return file;
  }

  /**
   * Every file we own or that is shared with us (all pages). A relay that pages backwards, repeats
   * ids or returns more than MAX_LISTED_FILES is refused (no endless loop, bounded memory).
   */
  async listFiles(): Promise<RelayFile[]> {
    const out: RelayFile[] = [];
    const seen = new Set<string>();
    let after: string | null = null;
    for (;;) {
      const q: string = after ? `&after=${encodeURIComponent(after)}` : '';
      const d = await this.#json('GET', `/v1/files?limit=500${q}`, { auth: true });
      const page = answer(shapes.FILE_PAGE, d, 'files');
      for (const f of page.files.map(parseFile)) {
        if (seen.has(f.id)) throw badResponse('files: an id listed twice');
        seen.add(f.id);
        out.push(f);
      }
      if (out.length > MAX_LISTED_FILES) throw badResponse('files: more than the SDK lists');
      if (page.next === null || page.files.length === 0) return out;
      if (page.next === after) throw badResponse('files: paging does not advance');
      after = page.next;
    }
  }

  async replaceFileHeader(
    id: string,
    req: { expectedRevision: number; header: Uint8Array; meta?: Uint8Array; readers?: readonly string[] },
  ): Promise<{ revision: number }> {
    const body: Body<typeof shapes.FILE_HEADER_REQUEST> = {
      expectedRevision: req.expectedRevision,
      header: b64(req.header),
      ...(req.meta ? { meta: b64(req.meta) } : {}),
      ...(req.readers ? { readers: [...req.readers] } : {}),
    };
    const d = await this.#json('PUT', `/v1/files/${encodeURIComponent(id)}/header`, { body, signed: true });
    return answer(shapes.FILE_REVISED, d, 'header');
  }

  async createFileVersion(
    id: string,
    req: { expectedRevision: number; header: Uint8Array; meta: Uint8Array; payloadSize: number; readers: readonly string[] },
  ): Promise<{ version: number; revision: number }> {
    const d = await this.#json('POST', `/v1/files/${encodeURIComponent(id)}/versions`, {
      body: {
        expectedRevision: req.expectedRevision,
        header: b64(req.header),
        meta: b64(req.meta),
        payloadSize: req.payloadSize,
        readers: [...req.readers],
      } satisfies Body<typeof shapes.FILE_VERSION_REQUEST>,
      signed: true,
    });
    return answer(shapes.FILE_VERSION_CREATED, d, 'version');
  }

  async deleteFile(id: string): Promise<void> {
    await this.#call('DELETE', `/v1/files/${encodeURIComponent(id)}`, { signed: true });
  }

  /**
   * Open the payload of a file version from byte `start` on (a resumed download asks for the rest
   * with `Range: bytes=start-`). The caller reads `body` to the end or cancels it.
   */
  async openPayload(id: string, version: number, start = 0): Promise<PayloadDownload> {
    const path = `/v1/files/${encodeURIComponent(id)}/versions/${version}/payload`;
    const failures: string[] = [];
    for (let i = 0; i < this.servers.length; i++) {
      const index = (this.#preferred + i) % this.servers.length;
      const server = this.servers[index] as string;
      try {
        let token = await this.#login(server);
        let res = await this.#download(server, path, token, start);
        if (res.status === 401) {
          await res.body?.cancel();
          await this.#dropToken(server);
          token = await this.#login(server);
          res = await this.#download(server, path, token, start);
        }
        this.#preferred = index;
        if (res.status !== 200 && res.status !== 206) {
          const text = await res.text();
          let data: unknown;
          try {
            data = JSON.parse(text);
          } catch {}
          throw relayError(res.status, data);
        }
        const length = Number.parseInt(res.headers.get('content-length') ?? '', 10);
        const range = /^bytes (\d+)-\d+\/\d+$/.exec(res.headers.get('content-range') ?? '');
        const from = res.status === 206 && range ? Number(range[1]) : 0;
        if (!res.body || !Number.isSafeInteger(length) || from !== (res.status === 206 ? start : 0)) {
          await res.body?.cancel();
          throw badResponse('payload');
        }
        return { body: res.body, start: from, length };
      } catch (e) {
        if (!(e instanceof NetworkFailure)) throw e;
        failures.push(e.message);
      }
    }
    throw new UnreachableError(`no relay server answered (${failures.join('; ')})`);
  }

  async #download(server: string, path: string, token: string, start: number): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/octet-stream, application/json' };
    if (start > 0) headers.range = `bytes=${start}-`;
    let res: Response;
    try {
      res = await this.#fetch(`${server}${path}`, { headers });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new NetworkFailure(`${server}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, { cause: e });
    }
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      await res.body?.cancel();
      throw new NetworkFailure(`${server}: HTTP ${res.status}`);
    }
    return res;
  }

  // ---- §7 provisioning ---------------------------------------------------------------------------

  /** `user`: the user to join; the relay answers NoSuchUserError at once when there is none (docs/API.md §7). */
  async createChannel(user?: string): Promise<{ channelId: string; expiresAt: number }> {
    const body: Body<typeof shapes.CHANNEL_REQUEST> = user === undefined ? {} : { user };
    const d = await this.#json('POST', '/v1/provisioning', { body }).catch(user === undefined ? rethrow : namingUser(user));
    const a = answer(shapes.CHANNEL, d, 'channel');
    return { channelId: a.channelId, expiresAt: a.expiresAt };
  }

  async putChannel(channelId: string, envelope: Uint8Array): Promise<void> {
    const body: Body<typeof shapes.CHANNEL_PUT_REQUEST> = { envelope: b64(envelope) };
    await this.#call('PUT', `/v1/provisioning/${encodeURIComponent(channelId)}`, { body, auth: true });
  }

  /** Long poll (≤ 30 s): the envelope, or null if none arrived yet. */
  async waitChannel(channelId: string, waitSeconds: number): Promise<Uint8Array | null> {
    const wait = Math.max(0, Math.min(30, Math.floor(waitSeconds)));
    const r = await this.#call('GET', `/v1/provisioning/${encodeURIComponent(channelId)}?wait=${wait}`, { timeoutMs: this.#timeoutMs + wait * 1000 });
    if (r.status === 204) return null;
    return bytesOf(answer(shapes.CHANNEL_ENVELOPE, r.data, 'envelope').envelope);
  }
}
