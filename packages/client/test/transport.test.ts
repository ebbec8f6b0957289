/**
 * The SDK's transport rules (docs/API.md "Transport", §2a): which http:// URLs need the opt-in,
 * and signed requests against relays whose clock is off from ours (the relay answers
 * `stale_signature` with its time; the SDK signs once more in that time and remembers it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLoopbackHost, normalizeServerUrl, parseServerList } from '../src/api.js';
import { InsecureTransportError } from '../src/errors.js';
import { newUserAt } from './devices.js';
import { startRelay, type TestRelay } from './relay-fixture.js';

describe('server URLs', () => {
  it('plain http:// only to this machine without the opt-in; https anywhere', () => {
    for (const url of [
      'http://127.0.0.1:8787',
      'http://127.255.0.9',
      'http://localhost:1',
      'http://LOCALHOST',
      'http://[::1]:80',
      'http://[::ffff:127.0.0.1]',
      'http://2130706433/',
    ]) {
      expect(() => normalizeServerUrl(url), url).not.toThrow();
    }
    for (const url of [
      'http://10.0.0.5:8080',
      'http://relay.example',
      'http://[::2]',
      'http://[::ffff:10.0.0.1]',
      'http://128.0.0.1',
      'http://localhost.example',
      'http://127.0.0.1.nip.io',
    ]) {
      expect(() => normalizeServerUrl(url), url).toThrow(InsecureTransportError);
      expect(normalizeServerUrl(url, { allowInsecureHttp: true })).toBe(new URL(url).toString().replace(/\/+$/, ''));
    }
    expect(normalizeServerUrl('https://relay.example/')).toBe('https://relay.example');
    expect(() => parseServerList('https://a.example,http://b.example')).toThrow(InsecureTransportError);
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('[::ffff:7f00:1]')).toBe(true);
    expect(isLoopbackHost('[::ffff:a00:1]')).toBe(false);
  });
});

describe('signed requests to a relay whose clock is off', () => {
  let dir: string;
  const relays: TestRelay[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'br-transport-'));
  });
  afterAll(async () => {
    await Promise.all(relays.map((r) => r.close()));
    await rm(dir, { recursive: true, force: true });
  });

  for (const offset of [10 * 60_000, -10 * 60_000]) {
    it(`acks once the relay told its time (${offset > 0 ? 'ahead' : 'behind'} by 10 minutes), then signs in it from the start`, async () => {
      const relay = await startRelay({
        host: '127.0.0.1',
        port: 0,
        dataDir: join(dir, `relay${offset}`),
        logLevel: 'silent',
        processMetrics: false,
        clockOffsetMs: offset,
      });
      relays.push(relay);
      const alice = await newUserAt(`alice-${offset > 0 ? 'a' : 'b'}`, relay.url);
      const bob = await newUserAt(`bob-${offset > 0 ? 'a' : 'b'}`, relay.url);
      const acks: number[] = [];
      bob.hook.fn = async (u, _init, next) => {
        const res = await next();
        if (new URL(u).pathname === '/v1/messages/ack') acks.push(res.status);
        return res;
      };
      const read = async () => {
        const got: string[] = [];
        await bob.client.receive({ onMessage: (m) => void got.push(m.text) });
        return got;
      };
      await alice.client.send(bob.client.user, 'one');
      expect(await read()).toEqual(['one']);
      expect(acks).toEqual([401, 204]);
      await alice.client.send(bob.client.user, 'two');
      expect(await read()).toEqual(['two']);
      expect(acks).toEqual([401, 204, 204]);
      // Acknowledged for good: nothing comes back.
      expect(await read()).toEqual([]);
    });
  }
});
