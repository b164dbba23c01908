import { writeFile } from "node:fs/promises";
import path from "node:path";
import type { BenchDatabase } from "./database.ts";
import { lastPlanId, planStats } from "./drain.ts";
import { openLoop } from "./open-loop.ts";
import { startWorkers } from "./workers.ts";
import { type JobShape, submitJobs } from "./workload.ts";

export const OMEGA_SCHEDULER = "omega-bench";

/** One point of the Omega experiments, in real (already scaled) time. */
export interface OmegaPoint {
  cell: string;
  schedulers: number;
  tJobMs: number;
  tTaskMs: number;
  conflictMode: "fine" | "coarse";
  transactionMode: "incremental" | "all-or-nothing";
  /** Open-loop arrivals, jobs per second. */
  rate: number;
  seconds: number;
  /** How long a placed job runs before it finishes (is cancelled), freeing its machines. */
  runtimeMs: number;
  jobs: readonly JobShape[];
}

export interface OmegaMeasurement {
  plans: number;
  conflicts: number;
  conflictFraction: number;
  /** Mean over schedulers of the fraction of the window spent syncing, deciding and committing. */
  busyness: number;
  submitted: number;
  placedTasks: number;
  rejectedPlacements: number;
}

/**
 * Runs one point: `schedulers` worker processes (one evaluation at a time each, one job per plan,
 * as in the paper) with the artificial decision time t_job + t_task × tasks; jobs arrive open-loop
 * over SQL and, once placed, run for `runtimeMs` (a reaper cancels them), so the cell stays busy at
 * a steady utilisation. At the end the jobs still waiting are cancelled and the workers stopped.
 */
export async function runOmegaPoint(
  db: BenchDatabase,
  point: OmegaPoint,
  dir: string,
): Promise<OmegaMeasurement> {
  const profiles = path.join(dir, `${point.cell}.json`);
  await writeFile(
    profiles,
    JSON.stringify({
      [OMEGA_SCHEDULER]: {
        extends: "batch",
        batchSize: 1,
        maxAttempts: 5,
        conflictMode: point.conflictMode,
        transactionMode: point.transactionMode,
        decisionTime: { jobMs: point.tJobMs, taskMs: point.tTaskMs },
      },
    }),
  );
  const workers = await startWorkers(db.pool, db.url, {
    scheduler: OMEGA_SCHEDULER,
    count: point.schedulers,
    concurrency: 1,
    profiles,
    reportEvaluations: true,
  });
  const reaper = startReaper(db, point.cell, point.runtimeMs);
  let submitted = 0;
  const started = performance.now();
  let window = 0;
  let lastPlan = 0;
  try {
    await openLoop(point.rate, point.seconds, async (i) => {
      const job = point.jobs[i % point.jobs.length] as JobShape;
      await submitJobs(db.pool, [job], { cell: point.cell, tenant: "omega", scheduler: OMEGA_SCHEDULER });
      submitted++;
    });
    // Plans after this one are cut short by the cancellation below: they are not counted. A point
    // whose schedulers have committed nothing yet (a loaded machine, a short run) waits for its
    // first plan: a point with no plan says nothing.
    lastPlan = await firstPlanCommitted(db.pool, point.cell);
  } finally {
    try {
      await reaper.stop();
      // What still waits is cancelled so that the evaluations end and report; then the workers stop.
      await cancelJobs(db, point.cell, "state = 'pending'");
    } finally {
      await workers.stop();
    }
    // Busyness is over the whole time the schedulers had work: up to when the last one stopped.
    window = performance.now() - started;
  }
  const stats = await planStats(db.pool, point.cell, lastPlan);
  const busy = workers.totals.map((t) => (t.syncMs + t.planMs + t.commitMs) / window);
  return {
    plans: stats.plans,
    conflicts: stats.conflicts,
    conflictFraction: stats.conflictFraction,
    busyness: busy.reduce((a, b) => a + b, 0) / busy.length,
    submitted,
    placedTasks: stats.committed,
    rejectedPlacements: stats.attempted - stats.committed,
  };
}

/** Finishes placed jobs once they have run `runtimeMs` (cancel releases their claims). */
function startReaper(db: BenchDatabase, cell: string, runtimeMs: number) {
  let stopping = false;
  const loop = (async () => {
    while (!stopping) {
      await cancelJobs(
        db,
        cell,
        `state = 'placed' and updated_at < now() - ${Number(runtimeMs)} * interval '1 ms'`,
      );
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      stopping = true;
      await loop;
    },
  };
}

/**
 * Cancels the cell's jobs matching `where`, each in its own transaction: cancel_job locks a job,
 * then its machines, so two cancels in one transaction would break the lock order every writer
 * keeps (jobs, then machines) and could deadlock with a commit.
 */
async function cancelJobs(db: BenchDatabase, cell: string, where: string): Promise<void> {
  const { rows } = await db.pool.query<{ id: number }>(
    `select id from omega.jobs where cell = $1 and ${where} order by id`,
    [cell],
  );
  for (const { id } of rows) await db.pool.query("select omega.cancel_job($1)", [id]);
}

const FIRST_PLAN_WAIT_MS = 15_000;

/** The cell's last plan id, once there is one (waiting at most FIRST_PLAN_WAIT_MS; then 0). */
async function firstPlanCommitted(pool: BenchDatabase["pool"], cell: string): Promise<number> {
  const deadline = performance.now() + FIRST_PLAN_WAIT_MS;
  for (;;) {
    const id = await lastPlanId(pool, cell);
    if (id > 0 || performance.now() > deadline) return id;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
