/**
 * Review finding L4 (security-2026-12.md): any account could scrape the directory and enumerate
 * users at full speed — GET /v1/users/:user had no rate limit, and 404 says "no such user".
 *
 * The attack, against a real relay with its default limits: an account tries name after name
 * (GET /v1/users/:user, then the same through bundles, sends and a file's readers), a few sock-puppet accounts from
 * the same address join in, and one account polls a known user to watch its device list.
 *
 * What stops it now (docs/API.md §3, "Rate limits"): "no such user" answers are scarce —
 * `lookupMissesPerDevice` (30, then 30 an hour) and `lookupMissesPerIp` (100, then 100 an hour),
 * counted together for the directory, bundles, sends and file readers — and once they are spent every look-up
 * of that device or address answers 429 with Retry-After, found or not, so the 429 is no oracle.
 * Look-ups of one user by one device are limited too (`directoryPerPair`: 100, then 15 a minute).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS } from '../../../packages/server/src/config.js';
import { createFile } from '../../../packages/server/test/file-helpers.js';
import { account, sendMessage, startTestServer, type TestServer } from '../../../packages/server/test/helpers.js';

const MISSES = DEFAULT_RATE_LIMITS.lookupMissesPerDevice as { capacity: number; refillPerSecond: number };
const MISSES_IP = DEFAULT_RATE_LIMITS.lookupMissesPerIp as { capacity: number };
const PAIR = DEFAULT_RATE_LIMITS.directoryPerPair as { capacity: number };

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ rateLimits: DEFAULT_RATE_LIMITS });
});
afterAll(async () => {
  await t?.close();
});

const lookup = (token: string, user: string) => t.api.req('GET', `/v1/users/${user}`, { token });

describe('L4: directory enumeration', () => {
  it('answers 429 once the unknown names a device may try are spent, for known names too', async () => {
    await account(t.api, 'alice');
    const scraper = await account(t.api, 'scraper');
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await lookup(scraper.token, `guess${i}`)).status);
    expect(statuses.slice(0, MISSES.capacity).every((s) => s === 404)).toBe(true);
    expect(statuses.slice(MISSES.capacity).every((s) => s === 429)).toBe(true);

    // No oracle: a user that exists is refused the same way while the block lasts.
    const known = await lookup(scraper.token, 'alice');
    expect(known.status).toBe(429);
    expect(known.body.code).toBe('rate_limited');
    const wait = Number(known.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(Math.ceil(1 / MISSES.refillPerSecond));
    // Nor do the other routes that answer for other users give the answer away.
    expect((await t.api.req('POST', '/v1/users/guess999/bundles', { token: scraper.token, body: {} })).status).toBe(429);
    expect((await t.api.req('POST', '/v1/users/alice/bundles', { token: scraper.token, body: {} })).status).toBe(429);
    expect((await sendMessage(t.api, scraper.token, 'guess998', [])).status).toBe(429);

    // Not a lock-out: after the Retry-After, one more look-up is allowed.
    t.clock.advance(wait * 1000);
    expect((await lookup(scraper.token, 'alice')).status).toBe(200);
  });

  it('counts the misses of every account from one address together (sock puppets)', async () => {
    t.clock.advance(24 * 3_600_000); // every bucket full again
    const puppets = [];
    for (let i = 0; i < 5; i++) puppets.push(await account(t.api, `puppet${i}`));
    let misses = 0;
    let refused = 0;
    for (const [i, puppet] of puppets.entries()) {
      for (let j = 0; j < MISSES.capacity; j++) {
        const r = await lookup(puppet.token, `name-${i}-${j}`);
        if (r.status === 404) misses++;
        else if (r.status === 429) refused++;
        else throw new Error(`unexpected ${r.status}`);
      }
    }
    // Five accounts could each try 30; the address may try 100 in all.
    expect(misses).toBe(MISSES_IP.capacity);
    expect(refused).toBe(5 * MISSES.capacity - MISSES_IP.capacity);
  });

  it('limits how often one device may look up one user (polling a device list)', async () => {
    t.clock.advance(24 * 3_600_000); // every bucket full again
    await account(t.api, 'watched');
    const watcher = await account(t.api, 'watcher');
    const statuses: number[] = [];
    for (let i = 0; i < PAIR.capacity + 5; i++) statuses.push((await lookup(watcher.token, 'watched')).status);
    expect(statuses.slice(0, PAIR.capacity).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(PAIR.capacity).every((s) => s === 429)).toBe(true);
    // Other users remain visible to the same device.
    expect((await lookup(watcher.token, 'alice')).status).toBe(200);
  });

  it('counts a file naming an unknown reader as a miss (file readers are no side door)', async () => {
    t.clock.advance(24 * 3_600_000); // every bucket full again
    await account(t.api, 'reader');
    const prober = await account(t.api, 'prober');
    const statuses: number[] = [];
    for (let i = 0; i < MISSES.capacity + 5; i++) statuses.push((await createFile(t.api, prober.token, { size: 16, readers: [`probe${i}`] })).status);
    expect(statuses.slice(0, MISSES.capacity).every((s) => s === 404)).toBe(true);
    expect(statuses.slice(MISSES.capacity).every((s) => s === 429)).toBe(true);
    // Blocked for a known reader and for the directory too: the 429 says nothing about the name.
    expect((await createFile(t.api, prober.token, { size: 16, readers: ['reader'] })).status).toBe(429);
    expect((await lookup(prober.token, 'reader')).status).toBe(429);
  });
});
