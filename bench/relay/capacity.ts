// Running the load generator of `relay_capacity_per_s` (bench/relay/loadgen.ts) against a relay
// process or NATS, and reading the CPU time of the process under test over exactly the counted
// seconds (the loadgen marks them on stdout), from /proc/PID/stat: on a shared machine the CPU
// time per message says more than the rate, which the scheduler decides.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { relayNode } from '../../test/runtime.js';

const LOADGEN = fileURLToPath(new URL('./loadgen.ts', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/tsx/dist/cli.mjs', import.meta.url));
/** Clock ticks per second of /proc/PID/stat's utime and stime (USER_HZ: 100 on Linux). */
const TICKS_PER_S = 100;

export interface LoadgenResult {
  delivered: number;
  seconds: number;
  p50: number;
  p99: number;
  peer?: string;
  /** The load generator's own CPU time over the counted seconds, µs. */
  loadgenCpuUs?: number;
  /** CPU time (user + system) of the process under test over the counted seconds, µs; absent if unreadable. */
  cpuUs?: number;
}

/** User + system CPU time of process `pid` so far, µs (Linux /proc), or undefined. */
export function processCpuUs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3: utime is 14, stime 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) / TICKS_PER_S) * 1e6;
  } catch {
    return undefined;
  }
}

/** The pid of the local process named `name` (e.g. the NATS server), if exactly one runs. */
export function findProcess(name: string): number | undefined {
  const found: number[] = [];
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === name) found.push(Number(d));
      } catch {
        // Gone meanwhile.
      }
    }
  } catch {
    return undefined;
  }
  return found.length === 1 ? found[0] : undefined;
}

/** Runs the load generator (`ours` against a relay at `url`, `nats` against NATS); `pid`: the process under test. */
export function loadgen(mode: 'ours' | 'nats', url: string, seconds: number, pid?: number): Promise<LoadgenResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(relayNode(), [TSX, LOADGEN, mode, url, String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    let out = '';
    let cpu0: number | undefined;
    let cpuUs: number | undefined;
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line === 'measuring') cpu0 = processCpuUs(pid);
        else if (line === 'measured') {
          const cpu1 = processCpuUs(pid);
          if (cpu0 !== undefined && cpu1 !== undefined) cpuUs = cpu1 - cpu0;
        } else if (line.startsWith('{')) {
          const r = JSON.parse(line) as LoadgenResult;
          resolve(cpuUs === undefined ? r : { ...r, cpuUs });
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`load generator exited with ${code ?? signal} before its result`));
    });
  });
}
