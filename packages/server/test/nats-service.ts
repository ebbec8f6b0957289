/**
 * The NATS service for tests: is it reachable. BLINDRELAY_TEST_NATS_URL (default
 * nats://127.0.0.1:4222) names it. Unreachable: the cluster suites skip with a loud banner, unless
 * BLINDRELAY_REQUIRE_SERVICES=1, where they fail (as postgres-service.ts).
 */
import { connect } from 'nats';
import { describe, it } from 'vitest';
import { REQUIRED } from './postgres-service.js';

export const NATS_URL = process.env.BLINDRELAY_TEST_NATS_URL || 'nats://127.0.0.1:4222';

/** Undefined when reachable, else why not (connect + flush within 2 s, no reconnect attempts). */
export async function natsUnreachable(url = NATS_URL): Promise<string | undefined> {
  try {
    const nc = await connect({ servers: url, timeout: 2000, reconnect: false, maxReconnectAttempts: 0 });
    try {
      await Promise.race([nc.flush(), new Promise((_, reject) => setTimeout(() => reject(new Error('flush timed out')), 2000).unref())]);
      return undefined;
    } finally {
      await nc.close();
    }
  } catch (err) {
    return err instanceof Error ? err.message || String(err) : String(err);
  }
}

/** Checks reachability once; prints the banner (skip) or registers a failing test (required). */
export async function requireNats(what: string): Promise<boolean> {
  const why = await natsUnreachable();
  if (!why) return true;
  const where = NATS_URL.replace(/\/\/[^@/]*@/, '//');
  if (REQUIRED) {
    describe(`${what} (required by BLINDRELAY_REQUIRE_SERVICES=1)`, () => {
      it('needs NATS', () => {
        throw new Error(`NATS tests are required (BLINDRELAY_REQUIRE_SERVICES=1) but ${where} is unreachable: ${why}`);
      });
    });
  } else {
    const bar = '!'.repeat(100);
    console.warn(
      `\n${bar}\n!!! NATS TESTS SKIPPED (${what}): ${where} is unreachable: ${why}\n` +
        '!!! Cross-relay push did NOT get tested. Start NATS or set BLINDRELAY_TEST_NATS_URL;\n' +
        '!!! set BLINDRELAY_REQUIRE_SERVICES=1 to make this a failure.\n' +
        `${bar}\n`,
    );
  }
  return false;
}
