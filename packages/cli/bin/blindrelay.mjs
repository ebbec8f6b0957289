#!/usr/bin/env node
// The `blindrelay` command. Sources are TypeScript, loaded through tsx's ESM hooks.
import { setFlagsFromString } from 'node:v8';
import { register } from 'tsx/esm/api';

// Node 24's V8 otherwise runs a full garbage collection after every 64 MB of memory outside its
// heap, which file and message buffers are (docs/DECISIONS.md, "V8 external memory").
if (Number.parseInt(process.versions.node, 10) >= 24) setFlagsFromString('--external-memory-accounted-in-global-limit');

// The parent process at launch, before the sources load: `blindrelay server` under npm shuts down
// when it is gone (packages/server/src/main.ts, review ux-2026-12 F3), also if npm died meanwhile.
globalThis[Symbol.for('blindrelay.launchPpid')] = process.ppid;

register();
await import('../src/main.ts');
