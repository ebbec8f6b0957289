/** Running the real `blindrelay` command as a child process, as a user would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { relayNode } from '../../../test/runtime.js';

export const BIN = fileURLToPath(new URL('../bin/blindrelay.mjs', import.meta.url));

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Start `blindrelay ARGS` with a clean BLINDRELAY_* environment plus `env`, on this Node; `blindrelay
 * server` on the Node that can run the relay (test/runtime.ts), so the CLI's client commands are
 * tested on every runtime CI runs them on.
 */
export function start(args: string[], env: Record<string, string> = {}): ChildProcess {
  const base: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_OPTIONS: builtOptions(process.env.NODE_OPTIONS),
    BLINDRELAY_HOME: '',
    BLINDRELAY_PROFILE: '',
    BLINDRELAY_PASSPHRASE: '',
    ...env,
  };
  const node = args[0] === 'server' ? relayNode() : process.execPath;
  return spawn(node, [BIN, ...args], { env: base, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * NODE_OPTIONS without the development condition: the command runs its built JavaScript (dist/,
 * made from the current sources by the tests' global setup, scripts/vitest-global-setup.ts), as an
 * installed `blindrelay` does, instead of the sources through tsx.
 */
export function builtOptions(options: string | undefined): string {
  return (options ?? '')
    .split(/\s+/)
    .filter((o) => o !== '' && o !== '--conditions=@blindrelay/source')
    .join(' ');
}

export function finish(child: ChildProcess): Promise<Result> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

export function waitForLine(stream: NodeJS.ReadableStream, pattern: RegExp, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; got ${JSON.stringify(buffer)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buffer += d.toString();
      const line = buffer.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve(line);
      }
    };
    stream.on('data', onData);
  });
}
