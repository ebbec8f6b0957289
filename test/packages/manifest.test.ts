/**
 * The package manifests that make the packed tarballs work (the full check, npm pack + npm install
 * in a fresh directory, is test/packages/install.test.ts, `npm run test:packages`): publishable,
 * one version, every export entry pointing at a source that exists and at its built counterpart
 * in dist/, only dist/ shipped, and no TypeScript loader at run time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PACKAGES = ['protocol', 'client', 'server', 'cli'];
type Target = string | { [condition: string]: Target };
interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  exports: Record<string, Target>;
  imports?: Record<string, Target>;
  files: string[];
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  scripts?: Record<string, string>;
}
const manifest = (pkg: string) => JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8')) as Manifest;

/** Every (condition path, file) of an exports target. */
function leaves(target: Target, path: string[] = []): [string[], string][] {
  if (typeof target === 'string') return [[path, target]];
  return Object.entries(target).flatMap(([c, t]) => leaves(t, [...path, c]));
}

describe('package manifests', () => {
  it('are publishable with one version and a license; depend on each other at that version; ship dist/ only', () => {
    const version = manifest('protocol').version;
    for (const pkg of PACKAGES) {
      const m = manifest(pkg);
      expect(m.name).toBe(`@blindrelay/${pkg}`);
      expect(m.private, pkg).toBeUndefined();
      expect(m.license, pkg).toBe('Apache-2.0');
      expect(m.version, pkg).toBe(version);
      for (const [dep, range] of Object.entries(m.dependencies ?? {})) if (dep.startsWith('@blindrelay/')) expect(range, `${pkg} → ${dep}`).toBe(version);
      expect(m.dependencies?.tsx, `${pkg} must not need tsx at run time`).toBeUndefined();
      expect(m.files, pkg).toContain('dist');
      expect(
        m.files.some((f) => f.startsWith('src')),
        pkg,
      ).toBe(false);
      expect(m.scripts?.prepack, pkg).toBe(`node ../../scripts/build.mjs --package ${pkg}`);
    }
    expect((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Manifest).private).toBe(true);
  });

  it('every export: the source condition first, at a file that exists; the others at its dist/ counterpart', () => {
    for (const pkg of PACKAGES) {
      const m = manifest(pkg);
      for (const [subpath, target] of Object.entries({ ...m.exports, ...m.imports })) {
        if (subpath === './package.json') continue;
        expect(typeof target === 'object' && Object.keys(target)[0], `${pkg} ${subpath}`).toBe('@blindrelay/source');
        for (const [conditions, file] of leaves(target)) {
          const where = `${pkg} ${subpath} [${conditions.join(' > ')}] ${file}`;
          if (conditions[0] === '@blindrelay/source') {
            expect(file, where).toMatch(/^\.\/src\/.+\.ts$/);
            expect(existsSync(join(ROOT, 'packages', pkg, file)), where).toBe(true);
          } else {
            expect(file, where).toMatch(conditions[0] === 'types' ? /^\.\/dist\/.+\.d\.ts$/ : /^\.\/dist\/.+\.js$/);
            const source = file.replace(/^\.\/dist\//, './src/').replace(/\.d\.ts$|\.js$/, '.ts');
            expect(existsSync(join(ROOT, 'packages', pkg, source)), `${where}: no ${source}`).toBe(true);
          }
        }
      }
    }
  });

  it('the CLI: its bin is JavaScript in the package, and #main is dist/main.js outside development', () => {
    const m = manifest('cli');
    expect(m.bin).toEqual({ blindrelay: './bin/blindrelay.mjs' });
    expect(m.files).toContain('bin');
    expect(m.imports?.['#main']).toEqual({ '@blindrelay/source': './src/main.ts', default: './dist/main.js' });
    const bin = readFileSync(join(ROOT, 'packages/cli/bin/blindrelay.mjs'), 'utf8');
    expect(bin).not.toMatch(/^import .*tsx/m);
  });
});
