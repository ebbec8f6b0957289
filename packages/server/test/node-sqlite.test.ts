/**
 * The embedded relay on a Node without node:sqlite (src/storage/sqlite/node-sqlite.ts): start-up
 * fails with one line and exit code 1, before creating the data directory, and importing the
 * package still works there. Run for real: on this Node started with `--no-experimental-sqlite`
 * (which removes the module), and on a Node 20 binary when the machine has one.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DATABASE_URL, dropSchema, randomSchema, requirePostgres } from './postgres-service.js';

const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
const index = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const MESSAGE =
  /^blindrelay server: the embedded relay needs node:sqlite \(Node 22\.16\+ or 24\), which this Node \d+\.\d+\.\d+ does not offer; run it through npm \/ npx in the repository, which use the pinned Node 24, or store in PostgreSQL with --database postgres:\/\/…\n$/;

function run(node: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A Node older than 22 on this machine (PATH outside node_modules, or /usr/bin/node), if any. */
function oldNode(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d && !d.includes('node_modules'));
  for (const candidate of [...dirs.map((d) => join(d, 'node')), '/usr/bin/node']) {
    if (!existsSync(candidate)) continue;
    try {
      const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
      if (Number(/^v(\d+)\./.exec(version)?.[1]) < 22) return candidate;
    } catch {
      // Not runnable: try the next one.
    }
  }
  return undefined;
}

const postgres = await requirePostgres('the relay without node:sqlite, on PostgreSQL');

describe('the embedded relay without node:sqlite', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'blindrelay-no-sqlite-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses to start with one line and exit code 1, creating nothing', async () => {
    const data = join(dir, 'data');
    const r = await run(process.execPath, ['--no-experimental-sqlite', '--import', 'tsx', bin, '--port', '0', '--data', data]);
    expect(r.stderr).toMatch(MESSAGE);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(existsSync(data)).toBe(false);
  });

  it('still lets the package be imported', async () => {
    const script = `const m = await import(${JSON.stringify(index)}); console.log(typeof m.openSqliteStorage, typeof m.startServer);`;
    const r = await run(process.execPath, ['--no-experimental-sqlite', '--import', 'tsx', '--input-type=module', '-e', script]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('function function\n');
  });

  it.runIf(postgres)('runs with PostgreSQL storage, as the message suggests', async () => {
    const schema = randomSchema();
    const options = { port: 0, databaseUrl: DATABASE_URL, databaseSchema: schema, logLevel: 'silent' };
    const script = [
      `const { startServer } = await import(${JSON.stringify(index)});`,
      `const server = await startServer(${JSON.stringify(options)});`,
      "const res = await fetch(server.url + '/healthz');",
      'await server.close();',
      'console.log(res.status);',
    ].join('\n');
    try {
      const r = await run(process.execPath, ['--no-experimental-sqlite', '--import', 'tsx', '--input-type=module', '-e', script]);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('200\n');
    } finally {
      await dropSchema(schema);
    }
  });

  const node20 = oldNode();
  if (!node20) {
    console.warn('\n!!! no Node older than 22 on this machine: the real Node 20 start-up check is skipped.\n');
  }
  it.skipIf(!node20)('refuses to start on a real Node 20 the same way', async () => {
    const data = join(dir, 'data');
    const r = await run(node20 as string, ['--import', 'tsx', bin, '--port', '0', '--data', data]);
    expect(r.stderr).toMatch(MESSAGE);
    expect(r.code).toBe(1);
    expect(existsSync(data)).toBe(false);
  });
});
