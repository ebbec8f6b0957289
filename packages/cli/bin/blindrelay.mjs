#!/usr/bin/env node
// The `blindrelay` command: the built JavaScript (dist/main.js, `npm run build`). In the
// repository, under the `@blindrelay/source` condition (vitest sets it for the tests and the
// processes they start: NODE_OPTIONS=--conditions=@blindrelay/source), `#main` is src/main.ts
// instead, loaded through tsx, a development dependency of the repository only: an installed
// package runs JavaScript, with no TypeScript loader.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

// `blindrelay --version` answers before loading anything else (it is what scripts probe).
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V' || args[0] === 'version')) {
  process.stdout.write(`${JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version}\n`);
} else {
  // The parent process at launch, before the sources load: `blindrelay server` under npm shuts down
  // when it is gone (packages/server/src/main.ts, review ux-2026-12 F3), also if npm died meanwhile.
  globalThis[Symbol.for('blindrelay.launchPpid')] = process.ppid;
  // Node 24's V8 otherwise runs a full garbage collection after every 64 MB of memory outside its
  // heap, which file and message buffers are (docs/DECISIONS.md, "V8 external memory").
  if (Number.parseInt(process.versions.node, 10) >= 24) setFlagsFromString('--external-memory-accounted-in-global-limit');
  const main = import.meta.resolve('#main');
  if (main.endsWith('.ts')) {
    const { register } = await import('tsx/esm/api');
    register();
  } else {
    // Node ≥ 22.1 keeps the compiled code of our modules on disk (os.tmpdir()/node-compile-cache):
    // a command starts in about half the time (docs/BENCHMARKS.md, "CLI start").
    const { enableCompileCache } = await import('node:module');
    enableCompileCache?.();
  }
  await import(main);
}
