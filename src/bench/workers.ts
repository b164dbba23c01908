import { createInterface } from "node:readline";
import { spawnWorker, type WorkerProcess } from "../cli/worker-process.ts";
import type { Pool } from "../db/pool.ts";
import { cpuProfiling } from "./api-process.ts";

/** What one worker process reported about its evaluations (summed from its "evaluation" log lines). */
export interface WorkerTotals {
  evaluations: number;
  plans: number;
  attempted: number;
  committed: number;
  rejected: number;
  syncMs: number;
  planMs: number;
  commitMs: number;
}

export interface BenchWorkers {
  /** Per process, as reported so far. */
  totals: WorkerTotals[];
  stop(): Promise<void>;
}

const zero = (): WorkerTotals => ({
  evaluations: 0,
  plans: 0,
  attempted: 0,
  committed: 0,
  rejected: 0,
  syncMs: 0,
  planMs: 0,
  commitMs: 0,
});

/**
 * Starts `count` real `omega worker` processes of one scheduler and waits until each listens for
 * wake-ups. With `reportEvaluations`, they log at info level and their "evaluation" lines are read
 * for the timings (sync, plan, commit): how the bench learns where the time goes without
 * instrumenting the database. Otherwise they log warnings only, as the bench's API does: a line per
 * evaluation, written and parsed, costs CPU on the machine being measured (totals stay zero).
 */
export async function startWorkers(
  pool: Pool,
  url: string,
  options: {
    scheduler: string;
    count: number;
    concurrency?: number;
    profiles?: string;
    reportEvaluations?: boolean;
  },
): Promise<BenchWorkers> {
  const args = [
    ...(options.concurrency ? ["--concurrency", String(options.concurrency)] : []),
    ...(options.profiles ? ["--profiles", options.profiles] : []),
  ];
  const totals: WorkerTotals[] = [];
  const processes: WorkerProcess[] = [];
  for (let i = 0; i < options.count; i++) {
    const mine = zero();
    totals.push(mine);
    const worker = spawnWorker(url, options.scheduler, {
      // The workers stop by themselves if the bench is killed.
      env: { LOG_LEVEL: options.reportEvaluations ? "info" : "warn", OMEGA_PARENT_PID: String(process.pid) },
      stdout: "pipe",
      args,
      nodeArgs: cpuProfiling(),
    });
    processes.push(worker);
    if (worker.child.stdout) {
      createInterface({ input: worker.child.stdout }).on("line", (line) => addEvaluation(mine, line));
    }
  }
  const stop = async () => {
    await Promise.all(processes.map((p) => p.stop()));
  };
  try {
    await waitForListeners(pool, `omega-worker-${options.scheduler}`, options.count, processes);
  } catch (error) {
    await stop();
    throw error;
  }
  return { totals, stop };
}

function addEvaluation(totals: WorkerTotals, line: string): void {
  if (!line.includes('"msg":"evaluation"')) return;
  const e = JSON.parse(line) as Partial<WorkerTotals>;
  totals.evaluations++;
  for (const key of [
    "plans",
    "attempted",
    "committed",
    "rejected",
    "syncMs",
    "planMs",
    "commitMs",
  ] as const) {
    totals[key] += e[key] ?? 0;
  }
}

/** Sums over processes. */
export function sumTotals(all: readonly WorkerTotals[]): WorkerTotals {
  const sum = zero();
  for (const t of all) for (const key of Object.keys(sum) as (keyof WorkerTotals)[]) sum[key] += t[key];
  return sum;
}

/** Waits until `count` connections of `application` in this database have run LISTEN. */
export async function waitForListeners(
  pool: Pool,
  application: string,
  count: number,
  processes: readonly WorkerProcess[] = [],
): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
       where datname = current_database() and application_name = $1 and query ilike 'listen omega_wake%'`,
      [application],
    );
    if ((rows[0]?.n ?? 0) >= count) return;
    const dead = processes.find((p) => p.child.exitCode !== null);
    if (dead) throw new Error(`a worker process exited with code ${dead.child.exitCode} before listening`);
    if (Date.now() > deadline) throw new Error(`${application}: ${count} listeners not ready after 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
