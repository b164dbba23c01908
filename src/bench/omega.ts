import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { mulberry32 } from "../placement/random.ts";
import { createCell, createTenant } from "./cell.ts";
import { writeLineChart } from "./chart.ts";
import { benchDatabases } from "./database.ts";
import { describeMachine, machineLine } from "./machine-info.ts";
import { type OmegaMeasurement, type OmegaPoint, runOmegaPoint } from "./omega-point.ts";
import { printTable, RESULTS_DIR, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { round } from "./stats.ts";
import type { JobShape } from "./workload.ts";

export interface OmegaOptions {
  machines: number;
  /** Real seconds of arrivals per point. */
  seconds: number;
  schedulers: number[];
  /** t_job values of the sweep, in the paper's seconds. */
  tJobs: number[];
  /** Scheduler count of the t_job sweep and of the mode comparison. */
  modeSchedulers: number;
  seed: number;
}

/**
 * The paper's defaults, in its time: t_job 0.1 s, t_task 5 ms; arrivals of 3 jobs/s (so one
 * scheduler at the default t_job is about a third busy). The mode comparison uses t_job = 1 s,
 * where decisions overlap enough for conflicts to be counted in seconds of real time.
 */
const PAPER = { rate: 3, tJob: 0.1, tTask: 0.005, modesTJob: 1 };
/**
 * Real time runs TIME_SCALE times faster than the paper's: t_job 0.01–10 s becomes 1 ms–1 s and
 * arrivals 30 jobs/s. Conflicts and busyness depend on how decisions overlap (rate × t_job), which
 * scaling keeps — except that commits and syncs are not scaled, so short t_job points are
 * dominated by the real cost of a commit (a few ms), not by the decision time.
 */
const TIME_SCALE = 10;
/** Cell load while the experiment runs: placed jobs run long enough to keep it this full. */
const UTILISATION = 0.7;
const MACHINE = { cpu: 16_000, memory: 65_536 };

type Mode = Pick<OmegaPoint, "conflictMode" | "transactionMode">;
const FINE_INCREMENTAL: Mode = { conflictMode: "fine", transactionMode: "incremental" };
const MODES: Mode[] = [
  FINE_INCREMENTAL,
  { conflictMode: "coarse", transactionMode: "incremental" },
  { conflictMode: "fine", transactionMode: "all-or-nothing" },
  { conflictMode: "coarse", transactionMode: "all-or-nothing" },
];

/**
 * Scenario `omega`: the questions of the Omega paper's §5 asked of the real system — worker
 * processes, the database commit, real conflicts — with the paper's artificial decision time:
 * conflict fraction and scheduler busyness vs the number of schedulers and vs t_job, and the
 * effect of fine- vs coarse-grained conflict detection and of all-or-nothing transactions.
 */
export async function runOmega(options: OmegaOptions): Promise<void> {
  const started = performance.now();
  const jobs = omegaJobs(Math.ceil(PAPER.rate * TIME_SCALE * options.seconds), options.seed);
  const coresPerJob = jobs.reduce((s, j) => s + j.tasks * j.cpu, 0) / jobs.length / 1000;
  const rate = PAPER.rate * TIME_SCALE;
  // Little's law: jobs in the cell = rate × runtime; sized so that they fill UTILISATION of it.
  const runtimeMs = ((UTILISATION * options.machines * MACHINE.cpu) / 1000 / (rate * coresPerJob)) * 1000;
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  const dir = await mkdtemp(path.join(tmpdir(), "omega-bench-profiles-"));
  const db = await databases.create("omega");
  const results = new Map<string, OmegaMeasurement & { point: Omit<OmegaPoint, "jobs" | "cell"> }>();
  let machine: Awaited<ReturnType<typeof describeMachine>>;
  try {
    machine = await describeMachine(db.pool, server.kind);
    console.log(machineLine(machine));
    await createTenant(db.pool, "omega");
    const measure = async (schedulers: number, tJob: number, mode: Mode) => {
      const key = `${schedulers}/${tJob}/${mode.conflictMode}/${mode.transactionMode}`;
      const known = results.get(key);
      if (known) return known;
      const point = {
        schedulers,
        tJobMs: (tJob * 1000) / TIME_SCALE,
        tTaskMs: (PAPER.tTask * 1000) / TIME_SCALE,
        ...mode,
        rate,
        seconds: options.seconds,
        runtimeMs: round(runtimeMs),
      };
      // A fresh cell per point, in the same database: each point starts from an empty cell.
      const cell = `p${results.size}`;
      await createCell(db.pool, { name: cell, machines: options.machines, ...MACHINE });
      const result = { ...(await runOmegaPoint(db, { ...point, cell, jobs }, dir)), point };
      results.set(key, result);
      console.log(
        `  ${schedulers} scheduler(s), t_job ${tJob} s, ${mode.conflictMode}/${mode.transactionMode}: ` +
          `conflict fraction ${round(result.conflictFraction, 3)}, busyness ${round(result.busyness, 2)}`,
      );
      return result;
    };
    const bySchedulers = [];
    for (const n of options.schedulers) bySchedulers.push(await measure(n, PAPER.tJob, FINE_INCREMENTAL));
    const byTJob = [];
    for (const t of options.tJobs) byTJob.push(await measure(options.modeSchedulers, t, FINE_INCREMENTAL));
    const byMode = [];
    for (const mode of MODES) byMode.push(await measure(options.modeSchedulers, PAPER.modesTJob, mode));
    await report(options, { bySchedulers, byTJob, byMode }, machine, started);
  } finally {
    await db.drop();
    await databases.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Service-like jobs: 1–10 tasks (log-uniform), 1–4 cores and 1–4 GiB each. */
function omegaJobs(count: number, seed: number): JobShape[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => ({
    tasks: Math.max(1, Math.round(Math.exp(random() * Math.log(10)))),
    cpu: 1000 + 500 * Math.floor(random() * 7),
    memory: 1024 * (1 + Math.floor(random() * 4)),
  }));
}

type Result = OmegaMeasurement & { point: Omit<OmegaPoint, "jobs" | "cell"> };

async function report(
  options: OmegaOptions,
  r: { bySchedulers: Result[]; byTJob: Result[]; byMode: Result[] },
  machine: Awaited<ReturnType<typeof describeMachine>>,
  started: number,
) {
  const row = (x: Result) => ({
    schedulers: x.point.schedulers,
    "t_job (paper s)": round((x.point.tJobMs * TIME_SCALE) / 1000, 3),
    mode: `${x.point.conflictMode}/${x.point.transactionMode}`,
    plans: x.plans,
    conflicts: x.conflicts,
    "conflict fraction": round(x.conflictFraction, 3),
    busyness: round(x.busyness, 2),
    "tasks placed": x.placedTasks,
  });
  printTable("omega: vs number of schedulers", r.bySchedulers.map(row));
  printTable(`omega: vs t_job (${options.modeSchedulers} schedulers)`, r.byTJob.map(row));
  printTable(`omega: conflict detection and transactions (t_job ${PAPER.modesTJob} s)`, r.byMode.map(row));
  const cf = (mode: string) =>
    r.byMode.find((x) => `${x.point.conflictMode}/${x.point.transactionMode}` === mode);
  const ratio = (a?: Result, b?: Result) =>
    a && b && b.conflictFraction > 0 ? round(a.conflictFraction / b.conflictFraction, 2) : null;
  const ratios = {
    coarseOverFine: ratio(cf("coarse/incremental"), cf("fine/incremental")),
    allOrNothingOverIncremental: ratio(cf("fine/all-or-nothing"), cf("fine/incremental")),
  };
  console.log(
    `\nconflict fraction, coarse ÷ fine: ${ratios.coarseOverFine ?? "—"}; all-or-nothing ÷ incremental: ${ratios.allOrNothingOverIncremental ?? "—"}`,
  );
  const line = (name: string, xs: Result[], x: (r: Result) => number, y: (r: Result) => number) => ({
    name,
    points: xs.map((p) => [x(p), y(p)] as const),
  });
  await writeLineChart(path.join(RESULTS_DIR, "omega-schedulers.svg"), {
    title: `Conflicts and busyness vs schedulers (t_job ${PAPER.tJob} s)`,
    xLabel: "schedulers",
    yLabel: "conflict fraction / busyness",
    series: [
      line(
        "conflict fraction",
        r.bySchedulers,
        (p) => p.point.schedulers,
        (p) => p.conflictFraction,
      ),
      line(
        "busyness (mean)",
        r.bySchedulers,
        (p) => p.point.schedulers,
        (p) => p.busyness,
      ),
    ],
  });
  await writeLineChart(path.join(RESULTS_DIR, "omega-tjob.svg"), {
    title: `Conflicts and busyness vs t_job (${options.modeSchedulers} schedulers)`,
    xLabel: "t_job (paper seconds; run 10× faster)",
    yLabel: "conflict fraction / busyness",
    logX: true,
    series: [
      line(
        "conflict fraction",
        r.byTJob,
        (p) => (p.point.tJobMs * TIME_SCALE) / 1000,
        (p) => p.conflictFraction,
      ),
      line(
        "busyness (mean)",
        r.byTJob,
        (p) => (p.point.tJobMs * TIME_SCALE) / 1000,
        (p) => p.busyness,
      ),
    ],
  });
  const file = await writeResults("omega", {
    machine,
    options: {
      ...options,
      paper: PAPER,
      timeScale: TIME_SCALE,
      utilisation: UTILISATION,
      machineShape: MACHINE,
    },
    wallSeconds: (performance.now() - started) / 1000,
    ratios,
    bySchedulers: r.bySchedulers,
    byTJob: r.byTJob,
    byMode: r.byMode,
  });
  console.log(`wrote ${file}, ${RESULTS_DIR}/omega-schedulers.svg and ${RESULTS_DIR}/omega-tjob.svg`);
}
