/**
 * A real relay for the web tests: `blindrelay server` as a child process (as `npm start` runs it),
 * serving a given web build, with its logs kept for the inspection test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { relayNode } from '../../../test/runtime.js';

export const BIN = fileURLToPath(new URL('../../../packages/cli/bin/blindrelay.mjs', import.meta.url));

export interface WebRelay {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything the relay printed (stdout and stderr: its logs). */
  logs(): string;
  stop(): Promise<void>;
}

export async function startWebRelay(dataDir: string, webRoot: string, logLevel = 'info'): Promise<WebRelay> {
  const env = { ...process.env, BLINDRELAY_WEB_ROOT: webRoot, BLINDRELAY_HOME: '', BLINDRELAY_PROFILE: '', BLINDRELAY_PASSPHRASE: '' };
  const child = spawn(relayNode(), [BIN, 'server', '--port', '0', '--data', dataDir, '--log-level', logLevel], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start: ${out}`)), 30_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) => reject(new Error(`relay exited (${code}): ${out}`)));
  });
  return {
    url,
    child,
    logs: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Run the `blindrelay` CLI (client commands on this Node) with a profile home; resolves with its output. */
export function cli(home: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, BLINDRELAY_HOME: home, BLINDRELAY_PROFILE: '', BLINDRELAY_PASSPHRASE: '' };
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
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
