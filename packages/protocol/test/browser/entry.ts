/**
 * Browser entry for the headless Chromium tests (../browser.test.ts). Bundled with esbuild and
 * loaded into a page; it exposes `window.blindrelay`, whose async functions the Node side calls
 * through `page.evaluate`. Everything here runs on the Web primitives (WebCrypto, with the
 * @noble fallbacks only where asked for). Bytes cross the page boundary as hex strings.
 */

import { createWebPrimitives } from '../../src/primitives/web.js';
import * as P from '../internals.js';

// ---------------------------------------------------------------------------------------------
// Shapes exchanged with the Node side (JSON only).

export interface NativeSupport {
  /** crypto.subtle generates, imports and uses X25519 keys natively. */
  readonly x25519: boolean;
  readonly ed25519: boolean;
}

export interface EnvironmentReport {
  readonly userAgent: string;
  readonly secureContext: boolean;
  readonly hasSubtle: boolean;
  /** `createWebPrimitives().name`: 'web' whether or not it fell back to @noble for the curves. */
  readonly primitivesName: string;
  readonly native: NativeSupport;
  /** Which implementation `createWebPrimitives()` uses for each curve in this browser. */
  readonly backend: { readonly x25519: 'webcrypto' | 'noble'; readonly ed25519: 'webcrypto' | 'noble' };
  /** The default (native where available) and forced-@noble primitives agree on derived keys and signatures. */
  readonly backendsAgree: boolean;
  /** `createWebPrimitives().providers()`: which implementation serves each primitive family here. */
  readonly providers: Awaited<ReturnType<P.Primitives['providers']>>;
}

export interface RoundTripOptions {
  /** Force the @noble/curves fallback for X25519/Ed25519. */
  readonly noble?: boolean;
  /** Rounds of one message each way after the handshake. */
  readonly rounds?: number;
}

export interface RoundTripSummary {
  readonly primitives: string;
  readonly backend: EnvironmentReport['backend'];
  readonly messagesExchanged: number;
  readonly outOfOrderDelivered: number;
  readonly usedOneTimePreKeyId: number | undefined;
  readonly usedPqPreKeyId: number | undefined;
  readonly serializedStateBytes: { readonly alice: number; readonly bob: number };
  readonly safetyNumber: string;
  readonly safetyNumbersEqual: boolean;
  readonly transcript: readonly string[];
  readonly ms: number;
}

export interface TamperCase {
  readonly where: string;
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly isDecryptError: boolean;
}

export interface TamperSummary {
  readonly cases: readonly TamperCase[];
  /** After every failed attempt the untouched state still decrypts the genuine message. */
  readonly genuineStillDecrypts: boolean;
  readonly genuinePlaintext: string;
}

/** What a user publishes: its trusted master key (out of band), signed device list and a bundle. */
export interface PublishedUser {
  readonly user: string;
  readonly masterKey: string;
  readonly deviceList: string;
  readonly bundle: string;
}

export interface PeerKey {
  readonly user: string;
  readonly masterKey: string;
}

export interface AcceptResult {
  readonly plaintext: string;
  readonly newSession: boolean;
  readonly senderUser: string;
  readonly senderDeviceId: number;
  readonly usedOneTimePreKeyId: number | undefined;
  readonly usedPqPreKeyId: number | undefined;
}

export interface BrowserApi {
  environment(): Promise<EnvironmentReport>;
  roundTrip(options?: RoundTripOptions): Promise<RoundTripSummary>;
  tamper(): Promise<TamperSummary>;
  /** Create a party with fresh keys held only in the page; returns what it publishes. */
  createParty(handle: string, user: string, options?: { noble?: boolean }): Promise<PublishedUser>;
  /** Verify `peer`'s device list and bundle, start a session and encrypt the first message. */
  initiate(handle: string, peer: PublishedUser, text: string): Promise<string>;
  /** Accept a PreKeyMessage from `sender` (its master key trusted out of band). */
  accept(handle: string, messageHex: string, sender: PeerKey): Promise<AcceptResult>;
  encrypt(handle: string, text: string): Promise<string>;
  decrypt(handle: string, messageHex: string): Promise<string>;
  /** The party's session state as bytes (hex), after a serialise/deserialise round trip in the page. */
  exportSession(handle: string): Promise<string>;
  safetyNumber(handle: string, peer: PeerKey): Promise<string>;
  /**
   * Ed25519 verification of `signatureHex` over `messageHex` under each key (review finding L1):
   * through the web and web+noble primitives, and — for comparison — through the browser's
   * WebCrypto directly, without the primitives' input rule (null where WebCrypto refused the key).
   */
  ed25519Verify(keysHex: string[], messageHex: string, signatureHex: string): Promise<{ web: boolean[]; noble: boolean[]; platform: (boolean | null)[] }>;
}

export type BlindrelayWindow = Window & { blindrelay: BrowserApi; blindrelayReady: boolean };

// ---------------------------------------------------------------------------------------------
// Fixtures (the browser-side twin of ../helpers.ts, which imports node:crypto).

interface User {
  readonly user: string;
  readonly master: P.SigningKeyPair;
  readonly device: P.DeviceKeys;
  readonly certificate: Uint8Array;
  readonly deviceList: Uint8Array;
  readonly spk: P.SignedPreKeyRecord;
  readonly opks: P.OneTimePreKeyRecord[];
  readonly pq: P.PqPreKeyRecord;
  readonly pqLastResort: P.PqPreKeyRecord;
}

async function makeUser(p: P.Primitives, user: string): Promise<User> {
  const master = await P.generateMasterKey(p);
  const device = await P.generateDeviceKeys(p);
  const certificate = await P.issueDeviceCertificate(p, user, master, device);
  const entry = await P.proveDeviceEntry(p, user, master.publicKey, P.deviceEntryOf(device), device.signing.seed);
  const deviceList = await P.signDeviceList(p, user, master, { version: 1, issuedAt: Date.now() }, [entry]);
  const spk = await P.generateSignedPreKey(p, user, device, 1);
  const opks = await P.generateOneTimePreKeys(p, 100, 3);
  const pq = await P.generatePqPreKey(p, user, device, 1, false);
  const pqLastResort = await P.generatePqPreKey(p, user, device, 2, true);
  return { user, master, device, certificate, deviceList, spk, opks, pq, pqLastResort };
}

const bundleBytes = (u: User): Uint8Array => P.encodePreKeyBundle(P.bundleFor(u.user, u.device, u.spk, u.pq, u.opks[0]));

function lookupOf(u: User): P.PreKeyLookup {
  return {
    signedPreKey: (id) => (id === u.spk.id ? u.spk : undefined),
    oneTimePreKey: (id) => u.opks.find((k) => k.id === id),
    pqPreKey: (id) => [u.pq, u.pqLastResort].find((k) => k.id === id),
  };
}

/** The bundle of `peer`, checked against its device list, itself checked against the trusted master key. */
async function verifiedBundle(
  p: P.Primitives,
  peer: { user: string; masterKey: Uint8Array; deviceList: Uint8Array; bundle: Uint8Array },
): Promise<P.PreKeyBundle> {
  const list = await P.verifyDeviceList(p, peer.deviceList, { user: peer.user, masterKey: peer.masterKey }, { now: Date.now() });
  const bundle = P.decodePreKeyBundle(peer.bundle);
  const device = list.devices.find((d) => d.deviceId === bundle.deviceId);
  if (!device) throw new Error(`bundle device ${bundle.deviceId} is not in ${peer.user}'s device list`);
  await P.verifyPreKeyBundle(p, bundle, device, peer.user);
  return bundle;
}

function check(condition: unknown, what: string): asserts condition {
  if (!condition) throw new Error(`browser check failed: ${what}`);
}

function checkText(actual: Uint8Array, expected: string, what: string): void {
  const text = P.fromUtf8(actual);
  check(text === expected, `${what}: got ${JSON.stringify(text)}, want ${JSON.stringify(expected)}`);
}

/** Serialise and deserialise a state, checking the bytes are stable. */
function reload(s: P.SessionState): { state: P.SessionState; bytes: number } {
  const bytes = P.serializeSession(s);
  const state = P.deserializeSession(bytes.slice());
  check(P.equal(P.serializeSession(state), bytes), 'session state re-serialises to the same bytes');
  return { state, bytes: bytes.length };
}

// ---------------------------------------------------------------------------------------------
// Environment: does this browser's WebCrypto do X25519 / Ed25519 natively?

async function probeNative(): Promise<NativeSupport> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return { x25519: false, ed25519: false };
  const x25519 = await (async () => {
    try {
      const a = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
      const b = (await subtle.generateKey({ name: 'X25519' }, true, ['deriveBits'])) as CryptoKeyPair;
      const raw = new Uint8Array(await subtle.exportKey('raw', b.publicKey));
      const pub = await subtle.importKey('raw', raw, { name: 'X25519' }, false, []);
      const bits = await subtle.deriveBits({ name: 'X25519', public: pub } as EcdhKeyDeriveParams, a.privateKey, 256);
      return bits.byteLength === 32;
    } catch {
      return false;
    }
  })();
  const ed25519 = await (async () => {
    try {
      const k = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
      const msg = new Uint8Array([1, 2, 3]);
      const sig = await subtle.sign('Ed25519', k.privateKey, msg);
      return sig.byteLength === 64 && (await subtle.verify('Ed25519', k.publicKey, sig, msg));
    } catch {
      return false;
    }
  })();
  return { x25519, ed25519 };
}

async function backendsAgree(): Promise<boolean> {
  const web = createWebPrimitives();
  const noble = createWebPrimitives({ forceNobleCurves: true });
  const a = web.randomBytes(32);
  const b = web.randomBytes(32);
  const seed = web.randomBytes(32);
  const msg = P.utf8('backend agreement');
  const [aw, an, bw] = [await web.x25519PublicKey(a), await noble.x25519PublicKey(a), await web.x25519PublicKey(b)];
  const [sw, sn] = [await web.x25519(a, bw), await noble.x25519(a, bw)];
  const [ew, en] = [await web.ed25519PublicKey(seed), await noble.ed25519PublicKey(seed)];
  const [gw, gn] = [await web.ed25519Sign(seed, msg), await noble.ed25519Sign(seed, msg)];
  return (
    P.equal(aw, an) &&
    P.equal(sw, sn) &&
    P.equal(ew, en) &&
    P.equal(gw, gn) &&
    (await web.ed25519Verify(en, msg, gn)) &&
    (await noble.ed25519Verify(ew, msg, gw))
  );
}

let nativeSupport: Promise<NativeSupport> | undefined;
const native = () => {
  nativeSupport ??= probeNative();
  return nativeSupport;
};

async function backendOf(p: P.Primitives): Promise<EnvironmentReport['backend']> {
  const n = await native();
  const forced = p.name !== 'web';
  return { x25519: n.x25519 && !forced ? 'webcrypto' : 'noble', ed25519: n.ed25519 && !forced ? 'webcrypto' : 'noble' };
}

async function environment(): Promise<EnvironmentReport> {
  const p = createWebPrimitives();
  return {
    userAgent: navigator.userAgent,
    secureContext: globalThis.isSecureContext,
    hasSubtle: typeof globalThis.crypto?.subtle?.importKey === 'function',
    primitivesName: p.name,
    native: await native(),
    backend: await backendOf(p),
    backendsAgree: await backendsAgree(),
    providers: await p.providers(),
  };
}

// ---------------------------------------------------------------------------------------------
// The session round trip, entirely in the page.

async function roundTrip(options: RoundTripOptions = {}): Promise<RoundTripSummary> {
  const started = performance.now();
  const p = createWebPrimitives({ forceNobleCurves: options.noble === true });
  const rounds = options.rounds ?? 4;
  const transcript: string[] = [];
  let exchanged = 0;

  const alice = await makeUser(p, 'alice');
  const bob = await makeUser(p, 'bob');
  // Alice trusts Bob's master key (safety number), fetches his device list and a bundle.
  const bundle = await verifiedBundle(p, { user: 'bob', masterKey: bob.master.publicKey, deviceList: bob.deviceList, bundle: bundleBytes(bob) });
  let a = await P.initiateSession(p, { identity: alice.device.identity, certificate: alice.certificate }, bundle);
  const first = await P.encryptMessage(p, a, P.utf8('hello bob'));
  a = first.state;
  check(P.messageType(first.message) === P.MESSAGE_TYPE_PREKEY, 'first message is a PreKeyMessage');
  const accepted = await P.acceptPreKeyMessage(
    p,
    { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) },
    { user: 'alice', masterKey: alice.master.publicKey },
    first.message,
  );
  checkText(accepted.plaintext, 'hello bob', 'first message');
  check(accepted.newSession, 'first message starts a new session');
  check(accepted.sender.deviceId === alice.device.deviceId, 'sender certificate names alice’s device');
  let b = accepted.state;
  transcript.push('alice→bob hello bob');
  exchanged++;

  for (let i = 0; i < rounds; i++) {
    const r = await P.encryptMessage(p, b, P.utf8(`b${i}`));
    b = r.state;
    check(P.messageType(r.message) === P.MESSAGE_TYPE_RATCHET, 'reply is a RatchetMessage');
    const d = await P.decryptMessage(p, a, r.message);
    a = d.state;
    checkText(d.plaintext, `b${i}`, `bob→alice #${i}`);
    const s = await P.encryptMessage(p, a, P.utf8(`a${i}`));
    a = s.state;
    check(P.messageType(s.message) === P.MESSAGE_TYPE_RATCHET, 'alice no longer sends the PreKey prefix');
    const e = await P.decryptMessage(p, b, s.message);
    b = e.state;
    checkText(e.plaintext, `a${i}`, `alice→bob #${i}`);
    transcript.push(`bob→alice b${i}`, `alice→bob a${i}`);
    exchanged += 2;
  }

  // Persist both sides mid-conversation and carry on from the reloaded states.
  const ra = reload(a);
  const rb = reload(b);
  a = ra.state;
  b = rb.state;

  // Three messages delivered in reverse order (skipped message keys).
  const burst: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await P.encryptMessage(p, a, P.utf8(`late${i}`));
    a = r.state;
    burst.push(r.message);
  }
  for (let i = 2; i >= 0; i--) {
    const d = await P.decryptMessage(p, b, burst[i] as Uint8Array);
    b = d.state;
    checkText(d.plaintext, `late${i}`, `out-of-order #${i}`);
    transcript.push(`alice→bob late${i} (out of order)`);
    exchanged++;
  }
  const last = await P.encryptMessage(p, b, P.utf8('bye'));
  checkText((await P.decryptMessage(p, a, last.message)).plaintext, 'bye', 'after reload');
  transcript.push('bob→alice bye');
  exchanged++;

  const ab = await P.safetyNumber(p, { user: 'alice', masterKey: alice.master.publicKey }, { user: 'bob', masterKey: bob.master.publicKey });
  const ba = await P.safetyNumber(p, { user: 'bob', masterKey: bob.master.publicKey }, { user: 'alice', masterKey: alice.master.publicKey });
  return {
    primitives: p.name,
    backend: await backendOf(p),
    messagesExchanged: exchanged,
    outOfOrderDelivered: burst.length,
    usedOneTimePreKeyId: accepted.usedOneTimePreKeyId,
    usedPqPreKeyId: accepted.usedPqPreKeyId,
    serializedStateBytes: { alice: ra.bytes, bob: rb.bytes },
    safetyNumber: P.formatSafetyNumber(ab.digits),
    safetyNumbersEqual: ab.digits === ba.digits && P.equal(ab.qrPayload, ba.qrPayload) && P.safetyNumberMatches(ab, P.formatSafetyNumber(ba.digits)),
    transcript,
    ms: Math.round(performance.now() - started),
  };
}

// ---------------------------------------------------------------------------------------------
// Tampering: a flipped bit anywhere gives the one DecryptError, and the state is untouched.

function describeError(where: string, e: unknown): TamperCase {
  const err = e as { name?: unknown; code?: unknown; message?: unknown };
  return {
    where,
    name: String(err?.name),
    code: String(err?.code),
    message: String(err?.message),
    isDecryptError: e instanceof P.DecryptError && e instanceof P.BlindrelayError,
  };
}

function flip(bytes: Uint8Array, index: number, bit = 0): Uint8Array {
  const out = bytes.slice();
  out[index] = (out[index] as number) ^ (1 << bit);
  return out;
}

async function tamper(): Promise<TamperSummary> {
  const p = createWebPrimitives();
  const alice = await makeUser(p, 'alice');
  const bob = await makeUser(p, 'bob');
  const bundle = await verifiedBundle(p, { user: 'bob', masterKey: bob.master.publicKey, deviceList: bob.deviceList, bundle: bundleBytes(bob) });
  const a0 = await P.initiateSession(p, { identity: alice.device.identity, certificate: alice.certificate }, bundle);
  const first = await P.encryptMessage(p, a0, P.utf8('hello'));
  const local = { identity: bob.device.identity, certificate: bob.certificate, preKeys: lookupOf(bob) };
  const trust = { user: 'alice', masterKey: alice.master.publicKey };
  const cases: TamperCase[] = [];

  // The PreKeyMessage: a bit flipped in the certificate, the KEM ciphertext, and the inner tag.
  const pk = P.peekPreKeyMessage(first.message);
  const certAt = 4; // version, type, u16 length
  const kemAt = certAt + pk.certificate.length + 32;
  for (const [where, index] of [
    ['prekey message: certificate', certAt + 10],
    ['prekey message: KEM ciphertext', kemAt + 100],
    ['prekey message: last tag byte', first.message.length - 1],
  ] as const) {
    try {
      await P.acceptPreKeyMessage(p, local, trust, flip(first.message, index));
      cases.push({ where, name: 'none', code: 'none', message: 'accepted a tampered message', isDecryptError: false });
    } catch (e) {
      cases.push(describeError(where, e));
    }
  }

  const accepted = await P.acceptPreKeyMessage(p, local, trust, first.message);
  checkText(accepted.plaintext, 'hello', 'genuine PreKeyMessage after tampered ones');
  const b = accepted.state;
  const reply = await P.encryptMessage(p, b, P.utf8('genuine reply'));
  const before = P.serializeSession(first.state);
  const m = reply.message;
  for (const [where, index, bit] of [
    ['ratchet message: version byte', 0, 1],
    ['ratchet message: ratchet key', 10, 0],
    ['ratchet message: pn', 35, 0],
    ['ratchet message: n', 41, 0],
    ['ratchet message: ciphertext', 45, 3],
    ['ratchet message: last tag byte', m.length - 1, 7],
  ] as const) {
    try {
      await P.decryptMessage(p, first.state, flip(m, index, bit));
      cases.push({ where, name: 'none', code: 'none', message: 'decrypted a tampered message', isDecryptError: false });
    } catch (e) {
      cases.push(describeError(where, e));
    }
  }
  try {
    await P.decryptMessage(p, first.state, m.subarray(0, m.length - 1));
    cases.push({ where: 'ratchet message: truncated', name: 'none', code: 'none', message: 'decrypted a truncated message', isDecryptError: false });
  } catch (e) {
    cases.push(describeError('ratchet message: truncated', e));
  }
  check(P.equal(P.serializeSession(first.state), before), 'failed decryptions left the state untouched');
  const genuine = await P.decryptMessage(p, first.state, m);
  return { cases, genuineStillDecrypts: true, genuinePlaintext: P.fromUtf8(genuine.plaintext) };
}

// ---------------------------------------------------------------------------------------------
// Interop: parties whose private keys live only in this page, talking to Node through hex bytes.

interface Party {
  readonly p: P.Primitives;
  readonly me: User;
  session: P.SessionState | undefined;
}

const parties = new Map<string, Party>();

function party(handle: string): Party {
  const found = parties.get(handle);
  if (!found) throw new Error(`no party ${handle}`);
  return found;
}

function session(handle: string): { party: Party; state: P.SessionState } {
  const x = party(handle);
  if (!x.session) throw new Error(`party ${handle} has no session`);
  return { party: x, state: x.session };
}

const api: BrowserApi = {
  environment,
  roundTrip,
  tamper,
  async createParty(handle, user, options = {}) {
    const p = createWebPrimitives({ forceNobleCurves: options.noble === true });
    const me = await makeUser(p, user);
    parties.set(handle, { p, me, session: undefined });
    return { user, masterKey: P.toHex(me.master.publicKey), deviceList: P.toHex(me.deviceList), bundle: P.toHex(bundleBytes(me)) };
  },
  async initiate(handle, peer, text) {
    const x = party(handle);
    const bundle = await verifiedBundle(x.p, {
      user: peer.user,
      masterKey: P.fromHex(peer.masterKey),
      deviceList: P.fromHex(peer.deviceList),
      bundle: P.fromHex(peer.bundle),
    });
    const state = await P.initiateSession(x.p, { identity: x.me.device.identity, certificate: x.me.certificate }, bundle);
    const r = await P.encryptMessage(x.p, state, P.utf8(text));
    x.session = r.state;
    return P.toHex(r.message);
  },
  async accept(handle, messageHex, sender) {
    const x = party(handle);
    const r = await P.acceptPreKeyMessage(
      x.p,
      { identity: x.me.device.identity, certificate: x.me.certificate, preKeys: lookupOf(x.me) },
      { user: sender.user, masterKey: P.fromHex(sender.masterKey) },
      P.fromHex(messageHex),
      x.session,
    );
    x.session = r.state;
    return {
      plaintext: P.fromUtf8(r.plaintext),
      newSession: r.newSession,
      senderUser: r.sender.user,
      senderDeviceId: r.sender.deviceId,
      usedOneTimePreKeyId: r.usedOneTimePreKeyId,
      usedPqPreKeyId: r.usedPqPreKeyId,
    };
  },
  async encrypt(handle, text) {
    const { party: x, state } = session(handle);
    const r = await P.encryptMessage(x.p, state, P.utf8(text));
    x.session = r.state;
    return P.toHex(r.message);
  },
  async decrypt(handle, messageHex) {
    const { party: x, state } = session(handle);
    const r = await P.decryptMessage(x.p, state, P.fromHex(messageHex));
    x.session = r.state;
    return P.fromUtf8(r.plaintext);
  },
  async exportSession(handle) {
    const { party: x, state } = session(handle);
    x.session = reload(state).state;
    return P.toHex(P.serializeSession(x.session));
  },
  async safetyNumber(handle, peer) {
    const x = party(handle);
    const sn = await P.safetyNumber(x.p, { user: x.me.user, masterKey: x.me.master.publicKey }, { user: peer.user, masterKey: P.fromHex(peer.masterKey) });
    return sn.digits;
  },
  async ed25519Verify(keysHex, messageHex, signatureHex) {
    const web = createWebPrimitives();
    const noble = createWebPrimitives({ forceNobleCurves: true });
    const message = P.fromHex(messageHex);
    const signature = P.fromHex(signatureHex);
    const out = { web: [] as boolean[], noble: [] as boolean[], platform: [] as (boolean | null)[] };
    for (const keyHex of keysHex) {
      const key = P.fromHex(keyHex);
      out.web.push(await web.ed25519Verify(key, message, signature));
      out.noble.push(await noble.ed25519Verify(key, message, signature));
      try {
        const k = await crypto.subtle.importKey('raw', key as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, false, ['verify']);
        out.platform.push(await crypto.subtle.verify('Ed25519', k, signature as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>));
      } catch {
        out.platform.push(null);
      }
    }
    return out;
  },
};

const w = window as unknown as BlindrelayWindow;
w.blindrelay = api;
w.blindrelayReady = true;
