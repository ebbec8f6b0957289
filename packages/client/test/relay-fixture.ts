/**
 * A real relay for the SDK's tests. In-process where this runtime can run the relay (node:sqlite,
 * Node ≥ 22.13); on an older runtime (CI's second pass of the SDK tests on the system Node 20) a
 * child process on the project's platform Node (node_modules/.bin/node, Node 24), which is how an
 * SDK on an old Node meets a relay in practice anyway.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ServerOptions } from '@blindrelay/server';
import { canRunRelay, relayNode } from '../../../test/runtime.js';

export interface TestRelay {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** What the SDK tests set; all of it crosses a process boundary as JSON. */
export type TestRelayOptions = Pick<
  ServerOptions,
  'host' | 'port' | 'dataDir' | 'logLevel' | 'processMetrics' | 'rateLimits' | 'databaseUrl' | 'databaseSchema'
> & {
  /** The relay's clock runs this far ahead of the machine's (negative: behind). */
  clockOffsetMs?: number;
};

/** The server options of a test relay (here or in the child process). */
export function relayOptions(options: TestRelayOptions): ServerOptions {
  const { clockOffsetMs, ...rest } = options;
  return clockOffsetMs ? { ...rest, now: () => Date.now() + clockOffsetMs } : rest;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./relay-process.ts', import.meta.url));

export async function startRelay(options: TestRelayOptions): Promise<TestRelay> {
  if (canRunRelay()) {
    const { startServer } = await import('@blindrelay/server');
    return startServer(relayOptions(options));
  }
  const child = spawn(relayNode(), ['--import', 'tsx', CHILD, JSON.stringify(options)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const first = await firstLine(child);
  const { url, port } = JSON.parse(first) as { url: string; port: number };
  return {
    url,
    port,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => {
      lines.close();
      resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`test relay exited with ${code} before it listened`)));
  });
}
