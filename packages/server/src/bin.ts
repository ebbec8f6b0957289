#!/usr/bin/env -S npx tsx
/** `npm start -w @blindrelay/server` / `tsx packages/server/src/bin.ts [--host ...]`. */
import { runServerMain } from './main.js';

await runServerMain();
