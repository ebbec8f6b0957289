/** `blindrelay --version`, `-V` and `version` print the package's version; `--help` lists them. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { finish, start } from './harness.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('blindrelay version', () => {
  it('--version, -V and version print the version alone', async () => {
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
    for (const args of [['--version'], ['-V'], ['version']]) {
      const r = await finish(start(args));
      expect({ args, code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ args, code: 0, stdout: `${VERSION}\n`, stderr: '' });
    }
  });

  it('version --json prints one object; --help lists the version option and command', async () => {
    const json = await finish(start(['--json', 'version']));
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ version: VERSION });
    const help = await finish(start(['--help']));
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/-V, --version/);
    expect(help.stdout).toMatch(/^\s+version\s/m);
  });
});
