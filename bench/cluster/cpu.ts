// CPU time of processes, from /proc/PID/stat (proc(5): fields 14 utime and 15 stime, in clock
// ticks, summed over every thread of the process, exited threads included). Used by the cluster
// bench to charge each delivered message with the relay processes' CPU.
import { readFileSync } from 'node:fs';

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
