/**
 * Review finding L9 (security-2026-12.md), second half: rate limits were counted per relay
 * instance, so an abuser spreading requests over the N relays of a cluster got N times every
 * budget (account creation, authentication, provisioning, bundles, directory).
 *
 * The attack, against three relay processes (`blindrelay server`, default limits) on one fresh
 * PostgreSQL database and NATS: requests from one address, spread round robin over the relays,
 * to create accounts, open provisioning channels, fetch one victim device's bundles, and look up
 * names that do not exist.
 *
 * What stops it now (docs/API.md, "Rate limits"; docs/DEPLOY.md): the security-relevant limits
 * are token buckets in PostgreSQL (`rate_buckets`, one upsert per request) that every relay
 * charges, so the cluster as a whole grants one budget: 20 accounts, 10 provisioning channels,
 * 4 bundles per (requester, target device), 30 "no such user" answers.
 *
 * Skips loudly without PostgreSQL or NATS; fails instead under BLINDRELAY_REQUIRE_SERVICES=1.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, dropDatabase, NATS_URL, type Relay, spawnRelay, stopRelay } from '../../../bench/cluster/relays.js';
import { DEFAULT_RATE_LIMITS } from '../../../packages/server/src/config.js';
import { Api, login, newUser, registrationBody, type TestUser } from '../../../packages/server/test/helpers.js';
import { requireNats } from '../../../packages/server/test/nats-service.js';
import { requirePostgres } from '../../../packages/server/test/postgres-service.js';

const available = (await requirePostgres('L9 shared limits')) && (await requireNats('L9 shared limits'));

const capacity = (rule: (typeof DEFAULT_RATE_LIMITS)[keyof typeof DEFAULT_RATE_LIMITS]) => (rule ? rule.capacity : Number.POSITIVE_INFINITY);
const ACCOUNTS = capacity(DEFAULT_RATE_LIMITS.accountsPerIp);
const CHANNELS = capacity(DEFAULT_RATE_LIMITS.provisioningCreatePerIp);
const PAIR = capacity(DEFAULT_RATE_LIMITS.bundlesPerPair);
const MISSES = capacity(DEFAULT_RATE_LIMITS.lookupMissesPerDevice);

describe.skipIf(!available)('L9: limits shared by three relays on one PostgreSQL + NATS', () => {
  let db: { name: string; url: string };
  let dir: string;
  const relays: Relay[] = [];
  let apis: Api[] = [];
  /** Request i goes to relay i mod 3. */
  const at = (i: number) => apis[i % apis.length] as Api;
  const users: { u: TestUser; token: string }[] = [];

  beforeAll(async () => {
    db = await createDatabase('br_l9');
    dir = await mkdtemp(join(tmpdir(), 'br-l9-'));
    const prefix = `blindrelay.l9_${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < 3; i++)
      relays.push(await spawnRelay(['--data', join(dir, `r${i}`), '--database', db.url, '--nats', NATS_URL, '--nats-prefix', prefix], { defaultLimits: true }));
    apis = relays.map((r) => new Api(r.url));
  });

  afterAll(async () => {
    await Promise.all(relays.map((r) => stopRelay(r.child)));
    if (db) await dropDatabase(db.name);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`creates ${ACCOUNTS} accounts from one address over all three relays, not ${3 * ACCOUNTS}`, { timeout: 60_000 }, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < ACCOUNTS + 10; i++) {
      const u = await newUser(`l9user${i}`);
      const r = await at(i).req('POST', '/v1/accounts', { body: registrationBody(u) });
      statuses.push(r.status);
      if (r.status === 201) users.push({ u, token: await login(at(i), u) });
      else {
        expect(r.status).toBe(429);
        expect(r.body.code).toBe('rate_limited');
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
    }
    // One a minute refills: a slow run may squeeze in one more.
    const created = statuses.filter((s) => s === 201).length;
    expect(created).toBeGreaterThanOrEqual(ACCOUNTS);
    expect(created).toBeLessThanOrEqual(ACCOUNTS + 1);
    expect(statuses.slice(ACCOUNTS + 1).every((s) => s === 429)).toBe(true);
  });

  it(`opens ${CHANNELS} provisioning channels from one address over all three relays`, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < CHANNELS + 5; i++) statuses.push((await at(i).req('POST', '/v1/provisioning')).status);
    expect(statuses.slice(0, CHANNELS).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(CHANNELS).every((s) => s === 429)).toBe(true);
  });

  it(`hands one device ${PAIR} bundles of another device over all three relays`, async () => {
    const [victim, stranger] = users as [(typeof users)[number], (typeof users)[number]];
    const statuses: number[] = [];
    for (let i = 0; i < PAIR + 5; i++)
      statuses.push((await at(i).req('POST', `/v1/users/${victim.u.user}/bundles`, { token: stranger.token, body: {} })).status);
    expect(statuses.slice(0, PAIR).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(PAIR).every((s) => s === 429)).toBe(true);
  });

  it(`answers ${MISSES} look-ups of unknown users per device over all three relays, then 429`, async () => {
    const scraper = users[2] as (typeof users)[number];
    const statuses: number[] = [];
    for (let i = 0; i < MISSES + 9; i++) statuses.push((await at(i).req('GET', `/v1/users/nobody-${i}`, { token: scraper.token })).status);
    expect(statuses.slice(0, MISSES).every((s) => s === 404)).toBe(true);
    expect(statuses.slice(MISSES).every((s) => s === 429)).toBe(true);
    // And every relay now refuses this device's look-ups, found or not.
    for (const api of apis)
      expect((await api.req('GET', `/v1/users/${(users[0] as (typeof users)[number]).u.user}`, { token: scraper.token })).status).toBe(429);
  });
});
