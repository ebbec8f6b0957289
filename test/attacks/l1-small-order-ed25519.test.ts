/**
 * Review finding L1, security-2026-12.md: small-order Ed25519 public keys were accepted, and the
 * primitives implementations disagreed. Under the identity point `01 00…00` the "signature"
 * R = identity, S = 0 verifies for every message on OpenSSL 3.0 (the Node primitives on Node 20)
 * and on WebCrypto over OpenSSL 3.0 or BoringSSL (Chromium), while @noble (strict) refused it.
 * Nothing checked the key itself: a device list "signed" that way passed verifyDeviceList, and
 * the relay registered it (poc/weak.mts).
 *
 * The attack, against the real code: the review's key and forgery through the node, web and
 * web+noble primitives (in this process, and on the system's older Node, whose OpenSSL accepts
 * it on its own), the forged device list of weak.mts through verifyDeviceList, and a registration
 * and a device-list update carrying such keys against a real relay.
 *
 * What stops it now: one input rule in every primitives implementation before the platform's
 * verification (packages/protocol/src/ed25519.ts: canonical A and R, A not of small order, S < L),
 * and decoders that refuse small-order or non-canonical master and signing keys (device lists,
 * certificates, bundles: DecodeError) as does the relay for the master key it registers (400).
 * The browser side is in packages/protocol/test/browser.test.ts (Chromium's WebCrypto accepts the
 * forgery under 8 of the 13 weak keys on its own; the web primitives refuse all).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newUserAt } from '../../packages/client/test/devices.js';
import { startRelay, type TestRelay } from '../../packages/client/test/relay-fixture.js';
import * as P from '../../packages/protocol/src/index.js';
import { createNodePrimitives } from '../../packages/protocol/src/primitives/node.js';
import { createWebPrimitives } from '../../packages/protocol/src/primitives/web.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WEAK = P.fromHex(`01${'00'.repeat(31)}`); // weak.mts: the identity point
const FORGERY = P.fromHex(`01${'00'.repeat(63)}`); // weak.mts: R = identity, S = 0
const ORDER8 = P.fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05');
const NON_CANONICAL = P.fromHex(`ee${'ff'.repeat(30)}7f`); // y = p + 1: the identity, non-canonically
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const all = [createNodePrimitives(), createWebPrimitives(), createWebPrimitives({ forceNobleCurves: true })];

/** A Node older than this one (BLINDRELAY_OLD_NODE, else the first `node` on PATH outside node_modules with a lower major). */
function olderNode(): string | undefined {
  const major = (bin: string) => Number(execFileSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).split('.')[0]);
  const mine = Number(process.versions.node.split('.')[0]);
  const candidates = process.env.BLINDRELAY_OLD_NODE
    ? [process.env.BLINDRELAY_OLD_NODE]
    : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'node'));
  for (const bin of candidates) {
    if (bin.includes('node_modules') || !existsSync(bin)) continue;
    try {
      if (major(bin) < mine) return bin;
    } catch {
      // not runnable
    }
  }
  return undefined;
}

describe('L1: small-order Ed25519 keys', () => {
  it("weak.mts's forgery is refused by the node, web and web+noble primitives of this Node", async () => {
    for (const p of all) {
      for (const key of [WEAK, ORDER8, NON_CANONICAL]) {
        expect(await p.ed25519Verify(key, P.utf8('any message at all'), FORGERY), `${p.name} ${P.toHex(key)}`).toBe(false);
      }
    }
  });

  it('and by all three on an older Node, whose OpenSSL accepts it on its own', () => {
    const old = olderNode();
    if (!old) {
      // On Node < 24 (OpenSSL 3.0) the test above already ran where the platform accepts the forgery.
      if (Number(process.versions.node.split('.')[0]) < 24) return;
      if (process.env.BLINDRELAY_REQUIRE_SERVICES === '1') throw new Error('no older Node found (set BLINDRELAY_OLD_NODE)');
      console.warn('L1: no older Node on PATH: the cross-runtime check is skipped');
      return;
    }
    const child = fileURLToPath(new URL('./l1-ed25519-verify.child.ts', import.meta.url));
    const out = execFileSync(old, ['--import', 'tsx', child], { cwd: ROOT, encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop() as string) as { node: string; accepted: Record<string, boolean> };
    expect(r.accepted, `on ${r.node}`).toEqual({ node: false, web: false, 'web+noble': false });
  });

  it('a device list, certificate or bundle naming such a key is refused when decoded, whatever its signature', async () => {
    const p = createNodePrimitives();
    const dev = await P.generateDeviceKeys(p, 5);
    // weak.mts: a list under the identity point as master key, its signature replaced by the forgery.
    const entry = await P.proveDeviceEntry(p, 'eve', WEAK, P.deviceEntryOf(dev), dev.signing.seed);
    const list = await P.signDeviceList(p, 'eve', { seed: new Uint8Array(32), publicKey: WEAK }, { version: 1, issuedAt: Date.now() }, [entry]);
    const forged = list.slice();
    forged.set(FORGERY, forged.length - 64);
    for (const check of [{ now: Date.now() }, { now: null, migration: true }]) {
      await expect(P.verifyDeviceList(p, forged, { user: 'eve', masterKey: WEAK }, check)).rejects.toMatchObject({ code: 'ERR_DECODE' });
    }
    // A device whose signing key is of small order: in a list, a certificate, a bundle.
    const master = await P.generateMasterKey(p);
    const weakDevice = { ...dev, signing: { seed: dev.signing.seed, publicKey: ORDER8 } };
    await expect(P.signDeviceList(p, 'eve', master, { version: 1, issuedAt: Date.now() }, [P.deviceEntryOf(weakDevice)])).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    });
    const cert = await P.issueDeviceCertificate(p, 'eve', master, weakDevice);
    expect(() => P.decodeDeviceCertificate(cert)).toThrow(P.DecodeError);
    const spk = await P.generateSignedPreKey(p, 'eve', dev, 1);
    const pq = await P.generatePqPreKey(p, 'eve', dev, 2, true);
    expect(() => P.decodePreKeyBundle(P.encodePreKeyBundle(P.bundleFor('eve', weakDevice, spk, pq)))).toThrow(P.DecodeError);
  });

  describe('against a real relay', () => {
    let dir: string;
    let relay: TestRelay;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'br-l1-'));
      relay = await startRelay({ host: '127.0.0.1', port: 0, dataDir: join(dir, 'relay'), logLevel: 'silent', processMetrics: false });
    });
    afterAll(async () => {
      await relay?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });
    const post = (path: string, method: string, body: unknown) =>
      fetch(relay.url + path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it('registration under a small-order master key, or with a small-order device key, is refused (400)', async () => {
      const p = createNodePrimitives();
      const dev = await P.generateDeviceKeys(p, 5);
      const entry = await P.proveDeviceEntry(p, 'eve', WEAK, P.deviceEntryOf(dev), dev.signing.seed);
      const list = await P.signDeviceList(p, 'eve', { seed: new Uint8Array(32), publicKey: WEAK }, { version: 1, issuedAt: Date.now() }, [entry]);
      const forged = list.slice();
      forged.set(FORGERY, forged.length - 64);
      const r = await post('/v1/accounts', 'POST', { user: 'eve', masterKey: b64(WEAK), deviceList: b64(forged) });
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ code: 'bad_request', message: 'masterKey: not a valid Ed25519 public key' });
      // A genuine master key whose list names a small-order device signing key (an account whose
      // device anyone could log in as, had it been stored).
      const master = await P.generateMasterKey(p);
      const proven = await P.proveDeviceEntry(p, 'eve', master.publicKey, P.deviceEntryOf(dev), dev.signing.seed);
      const good = await P.signDeviceList(p, 'eve', master, { version: 1, issuedAt: Date.now() }, [proven]);
      const tampered = good.slice();
      tampered.set(ORDER8, 2 + 3 + 32 + 8 + 8 + 2 + 4); // the entry's signing key
      const r2 = await post('/v1/accounts', 'POST', { user: 'eve', masterKey: b64(master.publicKey), deviceList: b64(tampered) });
      expect(r2.status).toBe(400);
      expect(((await r2.json()) as { message: string }).message).toBe('deviceList: malformed, or issued for another user');
    });

    it('a device-list update naming a small-order master or signing key is refused', async () => {
      const carol = await newUserAt(`carol-${process.pid}`, relay.url);
      const held = await carol.client.devices();
      const user = carol.client.user;
      // Carol's list, re-signed "by" the identity point: the master key field no longer decodes.
      const bad = await P.signDeviceList(
        createNodePrimitives(),
        user,
        { seed: new Uint8Array(32), publicKey: WEAK },
        { version: held.version + 1, issuedAt: Date.now() },
        [],
      );
      const forged = bad.slice();
      forged.set(FORGERY, forged.length - 64);
      const r = await post(`/v1/users/${user}/device-list`, 'PUT', { deviceList: b64(forged) });
      expect(r.status).toBe(400);
      expect(((await r.json()) as { message: string }).message).toBe('deviceList: malformed, or issued for another user');
      expect((await carol.client.devices()).version).toBe(held.version);
    });
  });
});
