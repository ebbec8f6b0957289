// CPU time of processes, from /proc/PID/stat (proc(5): fields 14 utime and 15 stime, in clock
// ticks, summed over every thread of the process, exited threads included). Used by the cluster
// bench to charge each delivered message with the relay processes' CPU.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second (`getconf CLK_TCK`): 100 on every Linux architecture Node supports. */
const CLK_TCK = 100;

/** User + system CPU time of process `pid` so far, in microseconds (10 ms resolution). */
export function processCpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // Field 2 (comm) is in parentheses and may hold spaces: count fields after its closing one.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc/${pid}/stat`);
  return ((utime + stime) * 1e6) / CLK_TCK;
}

/** Summed CPU time of `pids`, in microseconds. */
export const cpuMicros = (pids: number[]) => pids.reduce((sum, pid) => sum + processCpuMicros(pid), 0);

/**
 * CPU time of `pids` split by thread name (/proc/PID/task/TID/stat, trailing digits dropped): the
 * main thread (`MainThread` on Node 24) against V8's workers (`V8Worker`: concurrent JIT and GC)
 * and libuv's pool. Threads that exited are not counted here (they are in processCpuMicros).
 */
export function cpuMicrosByThread(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      } catch {
        continue; // the thread exited meanwhile
      }
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + ((Number(rest[14 - 3]) + Number(rest[15 - 3])) * 1e6) / CLK_TCK);
    }
  }
  return out;
}
