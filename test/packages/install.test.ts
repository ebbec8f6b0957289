/**
 * The packages as a user gets them (issue 15): `npm pack` of each publishable package, then a fresh
 * directory outside the repository installs the four tarballs with `npm install` and nothing else
 * (their dependencies come from the npm registry, or npm's cache: `--prefer-offline`). From that
 * directory only: `npx blindrelay --version` prints the version, `blindrelay server` starts a relay,
 * and a Node script importing the installed `@blindrelay/client` exchanges messages through it.
 * No TypeScript loader and no development condition: NODE_OPTIONS is cleared for every child.
 *
 * Part of `npm test` (`npm run test:packages` runs it alone). Its time, printed at the end: the
 * types of the four packages (`npm run build`: `tsc -b --noCheck`, about 7 s of CPU on a fresh
 * clone, skipped while up to date), `npm pack` running each package's real prepack (scripts/build.mjs
 * --package NAME, which then finds everything built: about 3 s of CPU), `npm install
 * --prefer-offline` from npm's cache (about 9 s of CPU: 108 packages, 51 MB unpacked), one relay,
 * one exchange.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForLine } from '../../packages/cli/test/harness.js';
import { relayNode } from '../runtime.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGES = ['protocol', 'client', 'server', 'cli'];
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')) as { version: string }).version;
// The user's environment: the platform Node first on PATH (npx, the bin's `#!/usr/bin/env node`),
// and none of the repository's development settings.
const NODE_DIR = dirname(relayNode());
const env = { ...process.env, NODE_OPTIONS: '', PATH: `${NODE_DIR}:${process.env.PATH}`, npm_config_audit: 'false', npm_config_fund: 'false' };

describe('installable packages', () => {
  let dir: string;
  let relay: ChildProcess | undefined;
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'br-install-'));
    const tarballs = join(dir, 'tarballs');
    const app = join(dir, 'app');
    mkdirSync(tarballs);
    // The types of the four packages in one tsc process first (`npm run build`, as a release does):
    // each prepack's own `tsc -b` then finds them up to date, where four cold ones would parse the
    // shared sources four times (12 s of CPU instead of 7 on a fresh clone).
    await timed('build', () => run(relayNode(), [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, env }));
    // `npm pack` runs each package's prepack (scripts/build.mjs --package NAME: JavaScript and types).
    await timed('pack', () =>
      run('npm', ['pack', '--silent', '--pack-destination', tarballs, ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])], {
        cwd: ROOT,
        env,
        maxBuffer: 1 << 24,
      }).catch((e) => {
        throw new Error(`npm pack failed: ${e.message}\n${e.stderr ?? ''}`);
      }),
    );
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'br-install-check', private: true, type: 'module' }));
    const files = readdirSync(tarballs).map((f) => join(tarballs, f));
    await timed('install', () => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...files], { cwd: app, env, maxBuffer: 1 << 24 }));
  }, 240_000);

  afterAll(() => {
    relay?.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`install test timings (ms): ${JSON.stringify(timings)}\n`);
  });

  it('ships only what runs: built JavaScript, types and maps; no TypeScript sources', () => {
    const app = join(dir, 'app', 'node_modules', '@blindrelay');
    for (const p of PACKAGES) {
      // The package's own files (npm may nest a dependency's copy under its node_modules/).
      const files = readdirSync(join(app, p), { recursive: true })
        .map(String)
        .filter((f) => !f.startsWith('node_modules'));
      expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
      expect(files.some((f) => f.startsWith('src'))).toBe(false);
      const pkg = JSON.parse(readFileSync(join(app, p, 'package.json'), 'utf8')) as { private?: boolean; license?: string; version?: string };
      expect(pkg.private).toBeUndefined();
      expect(pkg.license).toBe('Apache-2.0');
      expect(pkg.version).toBe(VERSION);
    }
    expect(readdirSync(join(app, 'server', 'dist', 'storage', 'sqlite', 'migrations')).length).toBeGreaterThan(0);
  });

  it('exports: node and browser conditions pick the primitives; light entry points resolve to JavaScript', async () => {
    const app = join(dir, 'app');
    const resolve = async (specifier: string, conditions: string[] = []) => {
      const script = `process.stdout.write(import.meta.resolve(${JSON.stringify(specifier)}))`;
      const args = [...conditions.map((c) => `--conditions=${c}`), '--input-type=module', '-e', script];
      return (await run(relayNode(), args, { cwd: app, env })).stdout.replace(/.*node_modules\//, '');
    };
    expect(await resolve('@blindrelay/protocol/platform')).toBe('@blindrelay/protocol/dist/primitives/platform-node.js');
    expect(await resolve('@blindrelay/protocol/platform', ['browser'])).toBe('@blindrelay/protocol/dist/primitives/platform-web.js');
    expect(await resolve('@blindrelay/protocol/wire')).toBe('@blindrelay/protocol/dist/wire/index.js');
    expect(await resolve('@blindrelay/client/errors')).toBe('@blindrelay/client/dist/errors.js');
  });

  it('npx blindrelay --version prints the version', async () => {
    const { stdout } = await timed('npx --version', () => run('npx', ['--no-install', 'blindrelay', '--version'], { cwd: join(dir, 'app'), env }));
    expect(stdout.trim()).toBe(VERSION);
  });

  it('a script using the installed @blindrelay/client exchanges messages through the installed blindrelay server', async () => {
    const app = join(dir, 'app');
    const bin = join(app, 'node_modules', '.bin', 'blindrelay');
    relay = spawn(relayNode(), [bin, 'server', '--port', '0', '--data', join(dir, 'relay')], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    relay.stderr?.on('data', (d) => {
      stderr += d;
    });
    const line = await waitForLine(relay.stdout as NodeJS.ReadableStream, /listening on (http:\/\/\S+)/).catch((e) => {
      throw new Error(`${e.message}\nrelay stderr: ${stderr}`);
    });
    const url = /listening on (http:\/\/\S+)/.exec(line)?.[1] as string;
    writeFileSync(join(app, 'exchange.mjs'), readFileSync(new URL('./exchange.mjs', import.meta.url)));
    const { stdout } = await timed('exchange', () => run(relayNode(), ['exchange.mjs', url, join(dir, 'homes')], { cwd: app, env }));
    expect(JSON.parse(stdout)).toEqual({ bob: ['alice: hello bob, from the installed tarballs'], alice: ['bob: hello alice'] });
  });
});
