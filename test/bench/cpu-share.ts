/**
 * Who used the CPU during a run: each process's (and the engine's main thread's) CPU time
 * from /proc, as a share of one core, and the machine's idle share. What limits the
 * engine shows here: a main thread near 100 % of a core while the machine has idle time
 * left means the engine's one thread, not the machine, is the bound. Linux only.
 */
import { readFileSync } from 'node:fs';

/** The kernel's clock ticks per second for /proc times (USER_HZ; 100 on Linux everywhere in practice). */
const TICKS_PER_SECOND = 100;

/** utime + stime in seconds of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file. */
function cpuSeconds(statFile: string): number {
  const text = readFileSync(statFile, 'utf8');
  // The command name (field 2) is in parentheses and may hold spaces: count after it.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of the whole line are 12 and 13 after the name.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Idle time of the whole machine (all cores together, idle and I/O wait), in ticks. */
function machineTicks(): { idle: number } {
  const cpu = (readFileSync('/proc/stat', 'utf8').split('\n')[0] as string).trim().split(/\s+/).slice(1).map(Number);
  return { idle: (cpu[3] ?? 0) + (cpu[4] ?? 0) };
}

export interface CpuShares {
  /** Share of one core, per name (1 = a whole core), over the run's wall time. */
  [name: string]: number;
}

/**
 * Start counting; the returned function stops and gives each one's share of a core, with
 * `engine main thread` (this process's first thread), `machine idle` (cores' worth of idle time).
 */
export function countCpu(processes: Record<string, number>): () => CpuShares {
  const files: Record<string, string> = { 'engine process': `/proc/${process.pid}/stat`, 'engine main thread': `/proc/${process.pid}/task/${process.pid}/stat` };
  for (const [name, pid] of Object.entries(processes)) files[name] = `/proc/${pid}/stat`;
  const before = Object.fromEntries(Object.entries(files).map(([name, file]) => [name, cpuSeconds(file)]));
  const machineBefore = machineTicks();
  const t0 = performance.now();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const shares: CpuShares = {};
    for (const [name, file] of Object.entries(files)) shares[name] = round((cpuSeconds(file) - (before[name] as number)) / seconds);
    shares['machine idle'] = round((machineTicks().idle - machineBefore.idle) / TICKS_PER_SECOND / seconds);
    return shares;
  };
}

const round = (x: number): number => Math.round(x * 100) / 100;
