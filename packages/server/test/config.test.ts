/** Options, flags and environment; the process entry (listening line, SIGTERM shutdown, exit codes). */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../src/config.js';
import { ConfigError, parseServerArgs, resolveServerOptions, runServerMain, startServer } from '../src/index.js';
import { Api, b64, newUser, register, registrationBody } from './helpers.js';

describe('resolveServerOptions', () => {
  it('applies BLINDRELAY_* variables, and flags win over them', () => {
    const env = { BLINDRELAY_HOST: '0.0.0.0', BLINDRELAY_PORT: '9000', BLINDRELAY_DATA: '/srv/relay', BLINDRELAY_LOG_LEVEL: 'warn' };
    expect(resolveServerOptions({}, env)).toEqual({ host: '0.0.0.0', port: 9000, dataDir: '/srv/relay', logLevel: 'warn' });
    expect(resolveServerOptions({ host: '::1', port: '0', data: './d', logLevel: 'DEBUG' }, env)).toEqual({
      host: '::1',
      port: 0,
      dataDir: './d',
      logLevel: 'debug',
    });
    expect(resolveServerOptions({}, {})).toEqual({});
    expect(resolveServerOptions({}, { BLINDRELAY_PORT: '' })).toEqual({});
  });

  it('sets the file size limit and user quota with --max-file-size / --user-quota or their variables', () => {
    expect(resolveServerOptions({ maxFileSize: '1000', userQuota: '5000' }, { BLINDRELAY_MAX_FILE_SIZE: '9', BLINDRELAY_USER_QUOTA: '9' })).toEqual({
      maxFileSize: 1000,
      userQuota: 5000,
    });
    expect(resolveServerOptions({}, { BLINDRELAY_MAX_FILE_SIZE: '1048576', BLINDRELAY_USER_QUOTA: '0' })).toEqual({ maxFileSize: 1048576, userQuota: 0 });
    expect(parseServerArgs(['--max-file-size', '100', '--user-quota=200'])).toEqual({ maxFileSize: '100', userQuota: '200' });
    expect(() => resolveServerOptions({ maxFileSize: '15' }, {})).toThrow(/--max-file-size/);
    expect(() => resolveServerOptions({ maxFileSize: '1e9' }, {})).toThrow(/--max-file-size/);
    expect(() => resolveServerOptions({}, { BLINDRELAY_USER_QUOTA: '-1' })).toThrow(/BLINDRELAY_USER_QUOTA/);
    expect(resolveOptions({ maxFileSize: 100, userQuota: 200 }).limits).toMatchObject({ maxFileBytes: 100, userQuotaBytes: 200 });
    expect(resolveOptions({}).limits).toMatchObject({ maxFileBytes: 4 * 1024 ** 3, userQuotaBytes: 20 * 1024 ** 3 });
  });

  it('refuses invalid values with a message naming the source', () => {
    expect(() => resolveServerOptions({ port: '70000' }, {})).toThrow(ConfigError);
    expect(() => resolveServerOptions({ port: '80a' }, {})).toThrow(/--port/);
    expect(() => resolveServerOptions({}, { BLINDRELAY_PORT: '-1' })).toThrow(/BLINDRELAY_PORT/);
    expect(() => resolveServerOptions({ logLevel: 'loud' }, {})).toThrow(/--log-level/);
    expect(() => resolveServerOptions({ data: ' ' }, {})).toThrow(/--data/);
  });

  it('selects PostgreSQL with --database or BLINDRELAY_DATABASE_URL, and checks the URL', () => {
    const url = 'postgres://relay@db.internal:5432/relay';
    expect(resolveServerOptions({}, { BLINDRELAY_DATABASE_URL: url })).toEqual({ databaseUrl: url });
    expect(resolveServerOptions({ database: 'postgresql://other/db' }, { BLINDRELAY_DATABASE_URL: url })).toEqual({ databaseUrl: 'postgresql://other/db' });
    expect(parseServerArgs(['--database', url])).toEqual({ database: url });
    expect(() => resolveServerOptions({ database: 'mysql://x/y' }, {})).toThrow(/--database/);
    expect(() => resolveServerOptions({}, { BLINDRELAY_DATABASE_URL: 'relay.db' })).toThrow(/BLINDRELAY_DATABASE_URL/);
  });

  it('selects the NATS bus with --nats or BLINDRELAY_NATS_URL, only together with PostgreSQL', async () => {
    const db = 'postgres://relay@db.internal:5432/relay';
    expect(resolveServerOptions({ database: db }, { BLINDRELAY_NATS_URL: 'nats://n1:4222' })).toEqual({ databaseUrl: db, natsUrl: 'nats://n1:4222' });
    expect(resolveServerOptions({ nats: 'nats://a:4222, nats://b:4222' }, { BLINDRELAY_NATS_URL: 'nats://n1:4222' })).toEqual({
      natsUrl: 'nats://a:4222,nats://b:4222',
    });
    expect(parseServerArgs(['--nats', 'nats://n1:4222'])).toEqual({ nats: 'nats://n1:4222' });
    expect(() => resolveServerOptions({ nats: 'http://n1:4222' }, {})).toThrow(/--nats/);
    expect(() => resolveServerOptions({}, { BLINDRELAY_NATS_URL: 'n1:4222' })).toThrow(/BLINDRELAY_NATS_URL/);
    // The subject prefix: --nats-prefix over BLINDRELAY_NATS_PREFIX; NATS tokens only, no wildcards.
    expect(parseServerArgs(['--nats-prefix', 'br.staging'])).toEqual({ natsPrefix: 'br.staging' });
    expect(resolveServerOptions({}, { BLINDRELAY_NATS_PREFIX: 'br.prod' })).toEqual({ natsSubjectPrefix: 'br.prod' });
    expect(resolveServerOptions({ natsPrefix: 'br.staging' }, { BLINDRELAY_NATS_PREFIX: 'br.prod' })).toEqual({ natsSubjectPrefix: 'br.staging' });
    expect(() => resolveServerOptions({ natsPrefix: 'br.*' }, {})).toThrow(/--nats-prefix/);
    expect(() => resolveServerOptions({}, { BLINDRELAY_NATS_PREFIX: 'a..b' })).toThrow(/BLINDRELAY_NATS_PREFIX/);
    // With SQLite (no --database) the relay is one process: refused before anything is opened.
    const dir = mkdtempSync(join(tmpdir(), 'blindrelay-config-nats-'));
    try {
      await expect(startServer({ port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', natsUrl: 'nats://127.0.0.1:4222' })).rejects.toThrow(ConfigError);
      await expect(startServer({ port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', natsUrl: 'nats://127.0.0.1:4222' })).rejects.toThrow(
        /needs PostgreSQL/,
      );
      await expect(
        startServer({ port: 0, dataDir: join(dir, 'data'), logLevel: 'silent', databaseUrl: db, natsUrl: 'nats://x:1', natsSubjectPrefix: 'a.*' }),
      ).rejects.toThrow(/subject prefix/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses --flag value and --flag=value', () => {
    expect(parseServerArgs(['--host', 'h', '--port=1', '--data', 'd', '--log-level=debug'])).toEqual({ host: 'h', port: '1', data: 'd', logLevel: 'debug' });
    expect(() => parseServerArgs(['--bogus'])).toThrow(ConfigError);
    expect(() => parseServerArgs(['--port'])).toThrow(/needs a value/);
  });
});

describe('runServerMain', () => {
  it('prints the error and exits 2 on a bad flag', async () => {
    let err = '';
    let code: number | undefined;
    const r = await runServerMain(
      ['--port', 'x'],
      {},
      {
        stderr: {
          write: (s: string) => {
            err += s;
          },
        },
        exit: (c) => {
          code = c;
        },
      },
    );
    expect(r).toBeUndefined();
    expect(code).toBe(2);
    expect(err).toMatch(/--port/);
  });

  it('as a process: prints exactly the listening line, serves, and shuts down on SIGTERM with exit 0, nothing lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'blindrelay-main-'));
    const dataDir = join(dir, 'data');
    const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url));
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', bin, '--port', '0', '--data', dataDir, '--log-level', 'info'], {
      env: { ...process.env, BLINDRELAY_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stdout = '';
      let stderr = '';
      child.stderr?.on('data', (d) => {
        stderr += d;
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line; stderr: ${stderr}`)), 20_000);
        child.stdout?.on('data', (d) => {
          stdout += d;
          const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(stdout);
          if (m) {
            clearTimeout(timer);
            resolve(m[1] as string);
          }
        });
        child.on('exit', () => reject(new Error(`exited early; stderr: ${stderr}`)));
      });
      const api = new Api(url);
      const u = await newUser('alice');
      await register(api, u);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stdout).toBe(`listening on ${url}\n`);
      expect(stderr).toContain('SIGTERM');
      // The account written just before the signal is there after a restart.
      const again = await startServer({ port: 0, dataDir, logLevel: 'silent', processMetrics: false });
      try {
        const dup = await new Api(again.url).req('POST', '/v1/accounts', { body: registrationBody(u) });
        expect(dup.status).toBe(409);
        expect(b64(u.master.publicKey)).toHaveLength(43);
      } finally {
        await again.close();
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
