import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Pool } from "../db/pool.ts";
import { type CeilingResult, measureCeiling } from "./ceiling.ts";
import { analyzeCell, createCell, createTenant } from "./cell.ts";
import { writeLineChart } from "./chart.ts";
import { startCpuMeter } from "./cpu-meter.ts";
import { type BenchDatabase, type BenchDatabases, benchDatabases } from "./database.ts";
import { type DbCost, printProfile, startDbCost } from "./db-cost.ts";
import { planStats, waitUntilScheduled } from "./drain.ts";
import { runExperimentSetup } from "./experiment.ts";
import { lockHolds } from "./lock-holds.ts";
import { describeMachine, type MachineInfo, machineLine } from "./machine-info.ts";
import { startPessimistic } from "./pessimistic.ts";
import { progress } from "./progress.ts";
import { printTable, RESULTS_DIR, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { round } from "./stats.ts";
import { startWaitSampler } from "./wait-sampler.ts";
import { startWorkers, sumTotals } from "./workers.ts";
import { generateJobs, type JobShape, submitJobs } from "./workload.ts";

export interface ThroughputOptions {
  machines: number;
  tasks: number;
  workers: number[];
  scheduler: string;
  concurrency: number;
  /** Omega's t_job for every scheduler, optimistic and pessimistic (0: none). */
  decisionMs: number;
  seed: number;
  /**
   * Analyze the whole fresh database before the workload arrives, as a user might on a new
   * install: tasks, jobs and claims analyzed empty (the plan hazard 0348 guards the commit from).
   */
  analyzeEmpty?: boolean;
}

const CELL = "bench";
const TENANT = "bench";

interface Run {
  placed: number;
  seconds: number;
  placementsPerSecond: number;
  plans: number;
  plansPerSecond: number;
  conflictFraction: number;
  attemptedPerPlaced: number;
  /** Placements rejected at commit, by reason. */
  rejected: Record<string, number>;
}

/**
 * Scenario `throughput`: the same deterministic cell and C1M-shaped workload placed, for each
 * scheduler count, three ways on fresh databases of the same server: by our optimistic worker
 * processes, by as many pessimistic schedulers (SELECT … FOR UPDATE on what they read), and by the
 * write ceiling (batched SQL, no scheduling). Schedulers are started and listening first; the
 * clock runs from the commit of the whole workload (one transaction) to the moment no job waits.
 */
export async function runThroughput(options: ThroughputOptions): Promise<void> {
  const started = performance.now();
  const jobs = generateJobs(options.tasks, options.seed);
  const shape = machineShape(jobs, options.machines);
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  const thinking = await decisionProfile(options);
  let machine: MachineInfo | undefined;
  const rows: Record<string, unknown>[] = [];
  try {
    for (const n of options.workers) {
      const ours = await onFreshDatabase(databases, `ours_${n}`, options, shape, async (db) => {
        if (!machine) {
          machine = await describeMachine(db.pool, server.kind);
          console.log(machineLine(machine));
        }
        return placeOptimistic(db, jobs, thinking, n);
      });
      const pessimistic = await onFreshDatabase(databases, `pess_${n}`, options, shape, (db) =>
        placePessimistic(db, jobs, thinking, n),
      );
      const ceiling = await onFreshDatabase(databases, `ceil_${n}`, options, shape, async (db) => {
        // (No scheduler runs here: any profile the database knows will do.)
        await submitJobs(db.pool, jobs, { cell: CELL, tenant: TENANT, scheduler: "batch" });
        // Statistics of the backlog (untimed), as the workers' own refresh gives theirs within a
        // second: on the empty tables' the ceiling's batches joined the tasks by scanning them.
        await db.pool.query("analyze");
        return measureCeiling(db.url, CELL, n);
      });
      rows.push(summarise(n, ours, pessimistic, ceiling));
    }
  } finally {
    await databases.close();
    await server.stop();
    if (thinking.profiles) await rm(path.dirname(thinking.profiles), { recursive: true, force: true });
  }
  printTable(
    `throughput: ${options.tasks.toLocaleString("en-US")} tasks, ${options.machines.toLocaleString("en-US")} machines${options.decisionMs > 0 ? `, ${options.decisionMs} ms of decision time per job` : ""}`,
    rows.map((r) => r.table as Record<string, number>),
  );
  const report = rows.map(({ table: _, ...rest }) => rest);
  await writeLineChart(path.join(RESULTS_DIR, "throughput.svg"), {
    title: `Placements/s, ${options.tasks.toLocaleString("en-US")} tasks on ${options.machines.toLocaleString("en-US")} machines`,
    xLabel: "schedulers (worker processes / connections)",
    yLabel: "placements per second",
    series: [
      {
        name: "omega (optimistic)",
        points: rows.map((r) => [r.schedulers as number, r.oursPerSecond as number]),
      },
      {
        name: "write ceiling",
        points: rows.map((r) => [r.schedulers as number, r.ceilingPerSecond as number]),
      },
      {
        name: "pessimistic locking",
        points: rows.map((r) => [r.schedulers as number, r.pessimisticPerSecond as number]),
      },
    ],
  });
  const file = await writeResults("throughput", {
    machine: machine as MachineInfo,
    options: { ...options, machineShape: shape },
    wallSeconds: (performance.now() - started) / 1000,
    rows: report,
  });
  console.log(`\nwrote ${file} and ${RESULTS_DIR}/throughput.svg`);
}

/** The scheduler both sides run: the profile asked for, or one that also thinks `decisionMs` per job. */
async function decisionProfile(
  options: ThroughputOptions,
): Promise<ThroughputOptions & { profiles?: string }> {
  if (options.decisionMs === 0) return options;
  const dir = await mkdtemp(path.join(tmpdir(), "omega-bench-profiles-"));
  const profiles = path.join(dir, "profiles.json");
  const scheduler = `${options.scheduler}-thinking`;
  await writeFile(
    profiles,
    JSON.stringify({
      [scheduler]: { extends: options.scheduler, decisionTime: { jobMs: options.decisionMs, taskMs: 0 } },
    }),
  );
  return { ...options, scheduler, profiles };
}

/** Machines sized so that the workload fills about half the cell (at least 32 cores, 128 GiB). */
function machineShape(jobs: readonly JobShape[], machines: number) {
  let cpu = 0;
  let memory = 0;
  for (const j of jobs) {
    cpu += j.tasks * j.cpu;
    memory += j.tasks * j.memory;
  }
  return {
    cpu: Math.max(32_000, Math.ceil((2 * cpu) / machines / 1000) * 1000),
    memory: Math.max(131_072, Math.ceil((2 * memory) / machines / 1024) * 1024),
  };
}

async function onFreshDatabase<T>(
  databases: BenchDatabases,
  label: string,
  options: ThroughputOptions,
  shape: { cpu: number; memory: number },
  work: (db: BenchDatabase) => Promise<T>,
): Promise<T> {
  const db = await databases.create(label);
  try {
    await createCell(db.pool, { name: CELL, machines: options.machines, ...shape });
    await createTenant(db.pool, TENANT);
    await runExperimentSetup(db.pool);
    // The planner knows the cell's size, as in a running system (the workload arrives later).
    await (options.analyzeEmpty ? db.pool.query("analyze") : analyzeCell(db.pool));
    return await work(db);
  } finally {
    await db.drop();
  }
}

/** Submits the workload and times it until every job is placed. */
async function timePlacement(
  pool: Pool,
  jobs: readonly JobShape[],
  options: ThroughputOptions,
  label: string,
) {
  const bar = progress(label, options.tasks, "tasks placed");
  try {
    await submitJobs(pool, jobs, { cell: CELL, tenant: TENANT, scheduler: options.scheduler });
    const submitted = performance.now();
    const cpuMeter = await startCpuMeter();
    const profiling = Boolean(process.env.OMEGA_BENCH_PROFILE);
    const waits = profiling ? await startWaitSampler(pool) : undefined;
    // Always: a run far off its usual speed then carries what the database did (one such run of
    // four schedulers spent ~5× the database time per commit, and left nothing to say why).
    const cost = await startDbCost(pool);
    const done = await waitUntilScheduled(pool, CELL, bar);
    const cpu = await cpuMeter.stop();
    if (waits) console.table(await waits.stop());
    const database = await cost.stop();
    if (profiling) printProfile(database);
    const wallMs = done - submitted;
    // Cores kept busy while placing: with two, a second scheduler has nothing left to run on.
    const cores = (ms: number) => round(ms / wallMs, 2);
    return {
      seconds: wallMs / 1000,
      coresBusy: { machine: cores(cpu.machine), postgres: cores(cpu.postgres), workers: cores(cpu.workers) },
      database: databaseEvidence(database),
    };
  } finally {
    bar.stop();
  }
}

async function placeOptimistic(
  db: BenchDatabase,
  jobs: readonly JobShape[],
  options: ThroughputOptions & { profiles?: string },
  n: number,
) {
  const workers = await startWorkers(db.pool, db.url, {
    scheduler: options.scheduler,
    count: n,
    concurrency: options.concurrency,
    profiles: options.profiles,
    reportEvaluations: true,
  });
  let timed: Awaited<ReturnType<typeof timePlacement>>;
  try {
    timed = await timePlacement(db.pool, jobs, options, `omega, ${n} worker(s)      `);
  } finally {
    await workers.stop();
  }
  const stats = await planStats(db.pool, CELL);
  const t = sumTotals(workers.totals);
  const busy = t.syncMs + t.planMs + t.commitMs;
  return {
    ...rates(stats, timed.seconds),
    lockHolds: await lockHolds(db.pool, CELL),
    coresBusy: timed.coresBusy,
    database: { ...timed.database, ...(await tableHealth(db.pool)) },
    timeSplit: {
      syncMs: round(t.syncMs),
      planMs: round(t.planMs),
      commitMs: round(t.commitMs),
      syncPercent: round((100 * t.syncMs) / busy, 1),
      planPercent: round((100 * t.planMs) / busy, 1),
      commitPercent: round((100 * t.commitMs) / busy, 1),
      /** Inside omega.commit_plan, lock waits included (the rest of commitMs is the round trip). */
      dbCommitMs: round(stats.dbCommitMs),
    },
  };
}

async function placePessimistic(
  db: BenchDatabase,
  jobs: readonly JobShape[],
  options: ThroughputOptions & { profiles?: string },
  n: number,
) {
  const schedulers = await startPessimistic(db.url, {
    cell: CELL,
    scheduler: options.scheduler,
    count: n,
    profiles: options.profiles,
  });
  let timed: Awaited<ReturnType<typeof timePlacement>>;
  let totals: Awaited<ReturnType<typeof schedulers.stop>> | undefined;
  try {
    timed = await timePlacement(db.pool, jobs, options, `pessimistic, ${n} scheduler(s)`);
  } finally {
    totals = await schedulers.stop();
  }
  const stats = await planStats(db.pool, CELL);
  const sum = (key: "lockMs" | "planMs" | "commitMs") => round(totals.reduce((s, t) => s + (t[key] ?? 0), 0));
  return {
    ...rates(stats, timed.seconds),
    lockHolds: await lockHolds(db.pool, CELL),
    coresBusy: timed.coresBusy,
    database: { ...timed.database, ...(await tableHealth(db.pool)) },
    timeSplit: { lockMs: sum("lockMs"), planMs: sum("planMs"), commitMs: sum("commitMs") },
  };
}

/** The statements that took the most time (a few, rounded), and the tables' analyzes. */
function databaseEvidence(cost: DbCost) {
  return {
    analyzes: cost.analyzes,
    top: cost.top.slice(0, 6).map((t) => ({
      query: t.query.slice(0, 100),
      calls: t.calls,
      meanMs: round(t.meanMs, 3),
      totalMs: round(t.totalMs),
      plans: t.plans,
    })),
  };
}

/**
 * Row versions of the tables a commit writes, at the end of a run: dead ones, HOT updates, vacuums;
 * and the run's deadlocks.
 * Read once the schedulers have stopped: a backend reports its counts at exit, or at most once a
 * second while it runs.
 */
async function tableHealth(pool: Pool) {
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  // (Each run has a database of its own: its deadlocks are this run's.)
  const { rows: database } = await pool.query<{ deadlocks: number }>(
    "select deadlocks::int from pg_stat_database where datname = current_database()",
  );
  const { rows } = await pool.query(
    `select relname as table, n_live_tup::int as live, n_dead_tup::int as dead, n_tup_upd::int as updated,
       n_tup_hot_upd::int as "hotUpdated", (vacuum_count + autovacuum_count)::int as vacuums
     from pg_stat_user_tables where schemaname = 'omega' and relname in ('machines', 'jobs', 'tasks', 'claims')
     order by relname`,
  );
  return { tables: rows, deadlocks: database[0]?.deadlocks ?? 0 };
}

function rates(
  stats: Pick<
    Awaited<ReturnType<typeof planStats>>,
    "committed" | "attempted" | "plans" | "conflictFraction" | "rejected"
  >,
  seconds: number,
): Run {
  return {
    placed: stats.committed,
    seconds: round(seconds, 2),
    placementsPerSecond: round(stats.committed / seconds),
    plans: stats.plans,
    plansPerSecond: round(stats.plans / seconds, 1),
    conflictFraction: round(stats.conflictFraction, 3),
    // Placements proposed per placement made: what conflicts cost (each rejected one is planned again).
    attemptedPerPlaced: round(stats.attempted / Math.max(1, stats.committed), 2),
    rejected: stats.rejected,
  };
}

function summarise(
  n: number,
  ours: Awaited<ReturnType<typeof placeOptimistic>>,
  pessimistic: Awaited<ReturnType<typeof placePessimistic>>,
  ceiling: CeilingResult,
) {
  const ceilingPerSecond = round(ceiling.placementsPerSecond);
  const oursVsCeiling = round(ours.placementsPerSecond / ceiling.placementsPerSecond, 2);
  const oursVsPessimistic = round(ours.placementsPerSecond / pessimistic.placementsPerSecond, 2);
  return {
    schedulers: n,
    oursPerSecond: ours.placementsPerSecond,
    ceilingPerSecond,
    pessimisticPerSecond: pessimistic.placementsPerSecond,
    oursVsCeiling,
    oursVsPessimistic,
    ours,
    pessimistic,
    ceiling: { ...ceiling, seconds: round(ceiling.seconds, 2), placementsPerSecond: ceilingPerSecond },
    table: {
      schedulers: n,
      "placements/s": ours.placementsPerSecond,
      "plans/s": ours.plansPerSecond,
      conflicts: ours.conflictFraction,
      "tried/placed": ours.attemptedPerPlaced,
      "sync/plan/commit %": `${ours.timeSplit.syncPercent}/${ours.timeSplit.planPercent}/${ours.timeSplit.commitPercent}`,
      "cores busy (all/pg/workers)": `${ours.coresBusy.machine}/${ours.coresBusy.postgres}/${ours.coresBusy.workers}`,
      "locks held p50/p99 ms": ours.lockHolds ? `${ours.lockHolds.p50Ms}/${ours.lockHolds.p99Ms}` : "-",
      "ceiling/s": ceilingPerSecond,
      "÷ceiling": oursVsCeiling,
      "pessimistic/s": pessimistic.placementsPerSecond,
      "÷pessimistic": oursVsPessimistic,
    },
  };
}
