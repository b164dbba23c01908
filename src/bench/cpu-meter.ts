import { readdir, readFile } from "node:fs/promises";

/** CPU time by role, in ms: where a machine's two cores went during a measurement. */
export interface CpuByRole {
  /** PostgreSQL's processes (backends, checkpointer, WAL writer…), including exited backends. */
  postgres: number;
  /** `omega serve`. */
  api: number;
  /** `omega worker` processes. */
  workers: number;
  /** This process: the load generator and the bench's own reads. */
  bench: number;
  /** Every process on the machine (/proc/stat: all CPUs, everything but idle and I/O wait). */
  machine: number;
}

export interface CpuMeter {
  stop(): Promise<CpuByRole>;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux.

interface ProcessCpu {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
  /** utime + stime, and the same of reaped children. */
  own: number;
  children: number;
}

async function readProcess(pid: number): Promise<ProcessCpu | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // comm is parenthesised and may hold spaces: the fields after the last ")" are fixed.
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const f = stat.slice(close + 2).split(" ");
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).replaceAll("\0", " ");
    return {
      pid,
      ppid: Number(f[1]),
      comm,
      cmdline,
      own: (Number(f[11]) + Number(f[12])) * TICK_MS,
      children: (Number(f[13]) + Number(f[14])) * TICK_MS,
    };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Busy CPU time of the whole machine, ms. */
async function readMachine(): Promise<number> {
  const first = (await readFile("/proc/stat", "utf8")).split("\n")[0] ?? "";
  // cpu  user nice system idle iowait irq softirq steal …
  const f = first.trim().split(/\s+/).slice(1).map(Number);
  const busy = f.reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0);
  return busy * TICK_MS;
}

async function readRoles(): Promise<CpuByRole> {
  const pids = (await readdir("/proc")).filter((d) => /^\d+$/.test(d)).map(Number);
  const all = (await Promise.all(pids.map(readProcess))).filter((p): p is ProcessCpu => p !== undefined);
  const roles: CpuByRole = { postgres: 0, api: 0, workers: 0, bench: 0, machine: await readMachine() };
  for (const p of all) {
    if (p.comm === "postgres") {
      // The postmaster (whose parent is not a postgres) also holds the CPU of exited backends.
      const postmaster = !all.some((q) => q.pid === p.ppid && q.comm === "postgres");
      roles.postgres += p.own + (postmaster ? p.children : 0);
    } else if (p.pid === process.pid) roles.bench += p.own;
    else if (/omega\.js serve/.test(p.cmdline)) roles.api += p.own;
    else if (/omega\.js worker/.test(p.cmdline)) roles.workers += p.own;
  }
  return roles;
}

/**
 * Reads the CPU time of every PostgreSQL and omega process on this machine (Linux /proc) before and
 * after a measurement. Unlike statement times, which count a backend waiting for a core as busy,
 * these add up to at most (cores × wall time): what the machine really spent. Processes that
 * started or ended in between count from 0 or are lost (the bench's processes live through it).
 */
export async function startCpuMeter(): Promise<CpuMeter> {
  const before = await readRoles();
  return {
    async stop() {
      const after = await readRoles();
      return {
        postgres: after.postgres - before.postgres,
        api: after.api - before.api,
        workers: after.workers - before.workers,
        bench: after.bench - before.bench,
        machine: after.machine - before.machine,
      };
    },
  };
}
