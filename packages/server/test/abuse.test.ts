/**
 * Review findings on abuse resistance: per-address keys (IPv6 by /64), trustProxy, the
 * per-address provisioning cap, prekey upload and ack limits, the metrics listener, and the
 * per-address challenge cap.
 */
import * as P from '@blindrelay/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, resolveOptions, resolveServerOptions } from '../src/config.js';
import { addressKey } from '../src/http/client-address.js';
import { parseServerArgs } from '../src/main.js';
import { account, ackFrame, b64, newUser, openWs, p, registrationBody, startTestServer, type TestServer, unb64 } from './helpers.js';

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const from = (ip: string) => ({ headers: { 'x-forwarded-for': ip } });

describe('client address keys', () => {
  it('keys IPv4 and IPv4-mapped addresses by the full address, other IPv6 by the /64 prefix', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:cb00:7107')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0DB8:0001:0002::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::1%eth0')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });

  it('rate-limits every address of one IPv6 /64 together', async () => {
    t = await startTestServer({ trustProxy: '127.0.0.1', rateLimits: { accountsPerIp: { capacity: 1, refillPerSecond: 0 } } });
    const body = async (name: string) => registrationBody(await newUser(name));
    expect((await t.api.req('POST', '/v1/accounts', { body: await body('a1'), ...from('2001:db8:1:2::1') })).status).toBe(201);
    const same64 = await t.api.req('POST', '/v1/accounts', { body: await body('a2'), ...from('2001:db8:1:2:ffff:ffff:ffff:ffff') });
    expect(same64.status).toBe(429);
    expect((await t.api.req('POST', '/v1/accounts', { body: await body('a3'), ...from('2001:db8:1:3::1') })).status).toBe(201);
    // IPv4-mapped counts as its IPv4 address.
    expect((await t.api.req('POST', '/v1/accounts', { body: await body('a4'), ...from('198.51.100.1') })).status).toBe(201);
    expect((await t.api.req('POST', '/v1/accounts', { body: await body('a5'), ...from('::ffff:198.51.100.1') })).status).toBe(429);
  });
});

describe('trustProxy', () => {
  it('is off by default: X-Forwarded-For does not give a client a fresh bucket', async () => {
    t = await startTestServer({ rateLimits: { provisioningCreatePerIp: { capacity: 1, refillPerSecond: 0 } } });
    expect((await t.api.req('POST', '/v1/provisioning', from('198.51.100.1'))).status).toBe(200);
    expect((await t.api.req('POST', '/v1/provisioning', from('198.51.100.2'))).status).toBe(429);
  });

  it('when the peer is a trusted proxy, limits key on the forwarded client address', async () => {
    t = await startTestServer({ trustProxy: '127.0.0.1/8', rateLimits: { provisioningCreatePerIp: { capacity: 1, refillPerSecond: 0 } } });
    expect((await t.api.req('POST', '/v1/provisioning', from('198.51.100.1'))).status).toBe(200);
    expect((await t.api.req('POST', '/v1/provisioning', from('198.51.100.1'))).status).toBe(429);
    expect((await t.api.req('POST', '/v1/provisioning', from('198.51.100.2'))).status).toBe(200);
  });

  it('accepts true, false, a hop count or a CIDR list from flags, environment and options', () => {
    expect(resolveOptions().trustProxy).toBe(false);
    expect(resolveServerOptions({ trustProxy: 'true' }, {}).trustProxy).toBe(true);
    expect(resolveServerOptions({}, { BLINDRELAY_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(resolveServerOptions({}, { BLINDRELAY_TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(resolveServerOptions({ trustProxy: '10.0.0.0/8, 2001:db8::/32,127.0.0.1' }, {}).trustProxy).toEqual(['10.0.0.0/8', '2001:db8::/32', '127.0.0.1']);
    expect(parseServerArgs(['--trust-proxy', '1', '--metrics-port=9100'])).toEqual({ trustProxy: '1', metricsPort: '9100' });
    expect(resolveOptions({ trustProxy: 3 }).trustProxy).toBe(3);
    expect(() => resolveServerOptions({ trustProxy: 'proxy.example' }, {})).toThrow(ConfigError);
    expect(() => resolveServerOptions({}, { BLINDRELAY_TRUST_PROXY: '10.0.0.0/33' })).toThrow(/BLINDRELAY_TRUST_PROXY/);
    expect(() => resolveOptions({ trustProxy: -1 })).toThrow(ConfigError);
  });
});

describe('open provisioning channels per address', () => {
  it('caps open channels per address; others can still link, and a fetched or expired channel frees its slot', async () => {
    t = await startTestServer({ trustProxy: true, limits: { maxOpenProvisioningChannelsPerAddress: 2 } });
    const api = t.api;
    const a = [await api.req('POST', '/v1/provisioning', from('198.51.100.1')), await api.req('POST', '/v1/provisioning', from('198.51.100.1'))];
    for (const r of a) expect(r.status).toBe(200);
    const refused = await api.req('POST', '/v1/provisioning', from('198.51.100.1'));
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another address is unaffected (the global cap is only a backstop).
    expect((await api.req('POST', '/v1/provisioning', from('198.51.100.2'))).status).toBe(200);

    // A used-up channel no longer counts.
    const alice = await account(api, 'alice');
    const id = a[0]?.body.channelId as string;
    expect((await api.req('PUT', `/v1/provisioning/${id}`, { token: alice.token, body: { envelope: b64(new Uint8Array([1])) } })).status).toBe(204);
    expect((await api.req('GET', `/v1/provisioning/${id}`, from('198.51.100.9'))).status).toBe(200);
    expect((await api.req('POST', '/v1/provisioning', from('198.51.100.1'))).status).toBe(200);
    expect((await api.req('POST', '/v1/provisioning', from('198.51.100.1'))).status).toBe(429);
    // Nor does an expired one.
    t.clock.advance(600_001);
    expect((await api.req('POST', '/v1/provisioning', from('198.51.100.1'))).status).toBe(200);
  });
});

describe('prekey uploads and acks', () => {
  it('refuses an upload past the stored-key cap before verifying any signature', async () => {
    t = await startTestServer({ limits: { maxStoredOneTimePreKeys: 5 } });
    const alice = await account(t.api, 'alice'); // 3 ML-KEM one-time prekeys stored
    const pq = alice.d.pqs[0] as P.PqPreKeyRecord;
    const forged = [20, 21, 22].map((id) => ({ id, publicKey: b64(pq.publicKey), signature: b64(new Uint8Array(64)) }));
    const r = await t.api.req('POST', '/v1/prekeys', { token: alice.token, body: { pqPreKeys: forged } });
    expect(r.status).toBe(409);
    // Within the cap the signatures are checked as before.
    expect((await t.api.req('POST', '/v1/prekeys', { token: alice.token, body: { pqPreKeys: forged.slice(0, 1) } })).status).toBe(400);
    // Duplicate ids in one upload are refused before verification, too.
    const dup = await t.api.req('POST', '/v1/prekeys', { token: alice.token, body: { pqPreKeys: [forged[0], forged[0]] } });
    expect(dup.status).toBe(400);
    expect(dup.body.message).toMatch(/duplicate prekey id/);
  });

  it('rate-limits prekey uploads per device', async () => {
    t = await startTestServer({ rateLimits: { prekeyUploadsPerDevice: { capacity: 2, refillPerSecond: 0 } } });
    const alice = await account(t.api, 'alice');
    const keys = await P.generateOneTimePreKeys(p, 500, 3);
    const statuses: number[] = [];
    for (const k of keys) {
      statuses.push(
        (await t.api.req('POST', '/v1/prekeys', { token: alice.token, body: { oneTimePreKeys: [{ id: k.id, publicKey: b64(k.publicKey) }] } })).status,
      );
    }
    expect(statuses).toEqual([204, 204, 429]);
  });

  it('rate-limits acks per device, over HTTP and WebSocket together', async () => {
    t = await startTestServer({ rateLimits: { acksPerDevice: { capacity: 2, refillPerSecond: 0 } } });
    const alice = await account(t.api, 'alice');
    const id = b64(p.randomBytes(16));
    expect((await t.api.req('POST', '/v1/messages/ack', { token: alice.token, sign: { user: alice.u }, body: { ids: [id] } })).status).toBe(204);
    expect((await t.api.req('POST', '/v1/messages/ack', { token: alice.token, sign: { user: alice.u }, body: { ids: [id] } })).status).toBe(204);
    const r = await t.api.req('POST', '/v1/messages/ack', { token: alice.token, sign: { user: alice.u }, body: { ids: [id] } });
    expect(r.status).toBe(429);
    expect(r.body.code).toBe('rate_limited');
    const ws = await openWs(t.url, { token: alice.token });
    ws.send(await ackFrame(alice.u, [id]));
    expect(await ws.next((f) => f.type === 'error')).toMatchObject({ type: 'error', code: 'rate_limited' });
    ws.close();
  });
});

describe('metrics listener', () => {
  it('serves no /metrics unless metricsPort is set, and never on the API port', async () => {
    t = await startTestServer({ metricsPort: undefined });
    expect(t.server.metricsUrl).toBeUndefined();
    expect((await t.api.req('GET', '/metrics')).status).toBe(404);
    await t.close();
    t = await startTestServer({ metricsPort: 0 });
    expect((await t.api.req('GET', '/metrics')).status).toBe(404);
    const url = new URL(t.server.metricsUrl as string);
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.port).not.toBe(String(t.server.port));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('blindrelay_http_requests_total');
    expect((await fetch(new URL('/v1/accounts', url))).status).toBe(404);
  });

  it('takes --metrics-port / BLINDRELAY_METRICS_PORT; unset means disabled', () => {
    expect(resolveOptions().metricsPort).toBeUndefined();
    expect(resolveServerOptions({}, {}).metricsPort).toBeUndefined();
    expect(resolveServerOptions({ metricsPort: '9100' }, {}).metricsPort).toBe(9100);
    expect(resolveServerOptions({}, { BLINDRELAY_METRICS_PORT: '9101' }).metricsPort).toBe(9101);
    expect(() => resolveServerOptions({}, { BLINDRELAY_METRICS_PORT: 'x' })).toThrow(/BLINDRELAY_METRICS_PORT/);
  });
});

describe('challenge cap', () => {
  it('a flood of challenges from another address cannot evict the owner’s pending challenge', async () => {
    t = await startTestServer({ trustProxy: true, limits: { maxChallengesPerDevice: 2 } });
    const alice = await account(t.api, 'alice');
    const body = { user: 'alice', deviceId: alice.d.keys.deviceId };
    const mine = await t.api.req('POST', '/v1/auth/challenge', { body, ...from('198.51.100.1') });
    expect(mine.status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await t.api.req('POST', '/v1/auth/challenge', { body, ...from(`203.0.113.${i + 1}`) })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await t.api.req('POST', '/v1/auth/challenge', { body, ...from('203.0.113.99') })).status).toBe(200);
    const signature = await P.signAuthChallenge(p, alice.d.keys.signing.seed, unb64(mine.body.challenge), 'alice', body.deviceId);
    const token = await t.api.req('POST', '/v1/auth/token', {
      body: { ...body, challenge: mine.body.challenge, signature: b64(signature) },
      ...from('198.51.100.1'),
    });
    expect(token.status).toBe(200);
  });

  it('an address asking for more than the cap drops only its own oldest challenge', async () => {
    t = await startTestServer({ limits: { maxChallengesPerDevice: 2 } });
    const alice = await account(t.api, 'alice');
    const body = { user: 'alice', deviceId: alice.d.keys.deviceId };
    const cs = [];
    for (let i = 0; i < 3; i++) cs.push((await t.api.req('POST', '/v1/auth/challenge', { body })).body.challenge as string);
    const tryToken = async (challenge: string) => {
      const signature = await P.signAuthChallenge(p, alice.d.keys.signing.seed, unb64(challenge), 'alice', body.deviceId);
      return (await t?.api.req('POST', '/v1/auth/token', { body: { ...body, challenge, signature: b64(signature) } }))?.status;
    };
    expect(await tryToken(cs[0] as string)).toBe(401);
    expect(await tryToken(cs[2] as string)).toBe(200);
  });
});
