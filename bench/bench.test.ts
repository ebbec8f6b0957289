/**
 * Every benchmark's `--quick --json` run, as `npm run -s bench -- NAME --quick --json` runs it:
 * stdout holds exactly one JSON object of the documented shape (DEVELOPERS.md, "Benchmarks"), so
 * none of them rots between the sessions that measure for real. The cluster bench needs
 * PostgreSQL and NATS (skipped loudly without them, failed under BLINDRELAY_REQUIRE_SERVICES=1).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireNats } from '../packages/server/test/nats-service.js';
import { requirePostgres } from '../packages/server/test/postgres-service.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUNNER = fileURLToPath(new URL('./run.ts', import.meta.url));

interface Row {
  metric: unknown;
  unit: unknown;
  ours: unknown;
  peer: unknown;
  ratio: unknown;
}

async function quick(name: string): Promise<{ bench: unknown; peer: unknown; runtime: unknown; rows: Row[] }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', RUNNER, name, '--quick', '--json'], { cwd: ROOT, maxBuffer: 1 << 20, timeout: 170_000 });
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  expect(lines, 'stdout is one line of JSON').toHaveLength(1);
  return JSON.parse(lines[0] as string);
}

function checkShape(r: Awaited<ReturnType<typeof quick>>, name: string, peer: RegExp | null): void {
  expect(Object.keys(r)).toEqual(['bench', 'peer', 'runtime', 'rows']);
  expect(r.bench).toBe(name);
  if (peer) expect(r.peer).toMatch(peer);
  expect(r.runtime).toBe(`node@${process.versions.node}`);
  expect(r.rows.length).toBeGreaterThan(0);
  for (const row of r.rows) {
    expect(Object.keys(row)).toEqual(['metric', 'unit', 'ours', 'peer', 'ratio']);
    expect(typeof row.metric).toBe('string');
    expect(typeof row.unit).toBe('string');
    expect(Number.isFinite(row.ours), `${row.metric} ours`).toBe(true);
    if (row.peer === null) {
      expect(row.ratio, `${row.metric} ratio without a peer`).toBeNull();
    } else {
      expect(Number.isFinite(row.peer), `${row.metric} peer`).toBe(true);
      expect(row.ratio as number).toBeCloseTo((row.ours as number) / (row.peer as number), 9);
    }
  }
}

const TIMEOUT = 180_000;

describe('benchmarks, --quick --json', () => {
  it('protocol: ours and @signalapp/libsignal-client', { timeout: TIMEOUT }, async () => {
    const r = await quick('protocol');
    checkShape(r, 'protocol', /^@signalapp\/libsignal-client@\d+\.\d+\.\d+$/);
    expect(r.rows.map((x) => x.metric)).toEqual(['setup_per_s', 'oneway_100b_per_s', 'pingpong_100b_per_s', 'oneway_64k_mb_per_s', 'wire_bytes_100b']);
  });

  it('groups: one MLS group vs pairwise fan-out to the same devices', { timeout: TIMEOUT }, async () => {
    const r = await quick('groups');
    checkShape(r, 'groups', /^pairwise@\d+$/);
    expect(r.rows.map((x) => x.metric)).toEqual([
      'send_8_ms',
      'commit_add_ms_8',
      'commit_remove_ms_8',
      'commit_add_ms_8_in_memory',
      'commit_remove_ms_8_in_memory',
      'commit_add_ms_8_blank_tree',
      'commit_remove_ms_8_blank_tree',
      'self_update_ms_8_first',
      'self_update_ms_8_median',
      'process_update_ms_8_median',
      'wire_bytes_per_msg_8',
    ]);
  });

  it('relay: capacity against NATS JetStream, end to end against the protocol alone', { timeout: TIMEOUT }, async () => {
    const r = await quick('relay');
    checkShape(r, 'relay', /^nats-server@(\d+\.\d+\.\d+|unreachable)$/);
    expect(r.rows.map((x) => x.metric)).toEqual([
      'relay_capacity_per_s',
      'relay_p99_ms_at_capacity',
      'relay_cpu_us_per_msg',
      'e2e_delivered_per_s',
      'e2e_http_one_by_one_per_s',
      'protocol_oneway_per_s',
      'p50_ms_at_1000_per_s',
      'p99_ms_at_1000_per_s',
      'e2e_sdk_cpu_us_per_msg',
      'e2e_split_delivered_per_s',
      'p50_ms_at_1000_per_s_split',
      'p99_ms_at_1000_per_s_split',
      'e2e_sealed_delivered_per_s',
      'e2e_sealed_sdk_cpu_us_per_msg',
    ]);
    for (const row of r.rows) expect(row.ours as number, row.metric as string).toBeGreaterThan(0);
  });

  it('backup: OPAQUE key stretching and node:crypto Argon2id; create and restore through a relay', { timeout: TIMEOUT }, async () => {
    const r = await quick('backup');
    checkShape(r, 'backup', /^node:crypto argon2id@/);
    expect(r.rows.map((x) => x.metric)).toEqual([
      'opaque_registration_ms',
      'backup_bytes_100_files',
      'backup_bytes_1000_files',
      'create_code_ms_3_files',
      'restore_code_ms_3_files',
      'create_passphrase_ms_3_files',
      'restore_passphrase_ms_3_files',
    ]);
  });

  it.skipIf(!existsSync('/usr/bin/age') && process.env.BLINDRELAY_REQUIRE_SERVICES !== '1')('files: ours and the age CLI', { timeout: TIMEOUT }, async () => {
    const r = await quick('files');
    checkShape(r, 'files', /^age@/);
    const metrics = r.rows.map((x) => x.metric);
    for (const m of ['encrypt_mib_per_s', 'decrypt_mib_per_s', 'encrypt_worst_round_ratio', 'decrypt_worst_round_ratio', 'peak_rss_mb'])
      expect(metrics).toContain(m);
  });

  it('search: ours and ciphersweet-js computing the same blind indexes', { timeout: TIMEOUT }, async () => {
    const r = await quick('search');
    checkShape(r, 'search', /^ciphersweet-js@\d+\.\d+\.\d+$/);
    expect(r.rows.map((x) => x.metric)).toEqual(['index_records_per_s', 'server_query_p99_ms', 'e2e_query_p50_ms', 'false_positive_ratio', 'records']);
    // The run checks recall itself (it throws on a missed record); the measured false-positive
    // rate is within a factor of 2 of the planner's prediction even on the small corpus.
    const fpr = r.rows.find((x) => x.metric === 'false_positive_ratio')?.ours as number;
    expect(fpr).toBeGreaterThan(0.5);
    expect(fpr).toBeLessThan(2);
  });

  it.skipIf(!existsSync(process.env.BLINDRELAY_CHROMIUM || '/usr/bin/chromium') && process.env.BLINDRELAY_REQUIRE_SERVICES !== '1')(
    'web: the app in headless Chromium, and @matrix-org/matrix-sdk-crypto-wasm for scale',
    { timeout: TIMEOUT },
    async () => {
      const r = await quick('web');
      checkShape(r, 'web', /^@matrix-org\/matrix-sdk-crypto-wasm@\d+\.\d+\.\d+$/);
      expect(r.rows.map((x) => x.metric)).toEqual([
        'bundle_kb_gz',
        'first_load_kb_gz',
        'cold_start_to_first_message_ms',
        'cold_start_main_thread_ms',
        'cli_start_ms',
      ]);
      // The page's busy time is part of the wall time it was measured in.
      expect(r.rows[3]?.ours as number).toBeGreaterThan(0);
      expect(r.rows[3]?.ours as number).toBeLessThanOrEqual(r.rows[2]?.ours as number);
      // The first session loaded some JavaScript, and at most all the app can load (bench/web.ts
      // fails the run if the page loaded a script that is not in the build).
      const all = r.rows[0]?.ours as number;
      const loaded = r.rows[1]?.ours as number;
      expect(loaded).toBeGreaterThan(20);
      expect(loaded).toBeLessThanOrEqual(all);
    },
  );

  it('sealed: ours and libsignal sealed sender, outer layer around one ratchet message', { timeout: TIMEOUT }, async () => {
    const r = await quick('sealed');
    checkShape(r, 'sealed', /^@signalapp\/libsignal-client@\d+\.\d+\.\d+$/);
    expect(r.rows.map((x) => x.metric)).toEqual(['seal_open_per_s', 'sealed_bytes']);
    for (const row of r.rows) expect((row.ours as number) > 0 && (row.peer as number) > 0).toBe(true);
  });
});

if ((await requirePostgres('cluster benchmark')) && (await requireNats('cluster benchmark'))) {
  describe('benchmarks, --quick --json (services)', () => {
    it('cluster: SQLite vs PostgreSQL + NATS', { timeout: TIMEOUT }, async () => {
      const r = await quick('cluster');
      checkShape(r, 'cluster', /^blindrelay-single-instance@/);
      // Scale-out efficiency: relay CPU per message, three relays against one (ratio = three / one).
      const cpu = r.rows.filter((x) => String(x.metric).startsWith('relay_cpu_us_per_msg_'));
      expect(cpu.map((x) => [x.metric, x.peer === null])).toEqual([
        ['relay_cpu_us_per_msg_1', true],
        ['relay_cpu_us_per_msg_3', false],
        ['relay_cpu_us_per_msg_http_1', true],
        ['relay_cpu_us_per_msg_http_3', false],
      ]);
      expect(cpu[1]?.peer).toBe(cpu[0]?.ours);
      expect(cpu[3]?.peer).toBe(cpu[2]?.ours);
      for (const x of cpu) expect(x.ours as number).toBeGreaterThan(0);
    });
  });
}
