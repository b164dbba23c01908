import path from "node:path";
import type { Pool } from "../db/pool.ts";
import { commitPlan, leaseJobs, loadJobViews, releaseLeases } from "../db/scheduling.ts";
import { CellSnapshot } from "../db/snapshot.ts";
import {
  batchProfile,
  InFlight,
  mulberry32,
  planJob,
  type SchedulerProfile,
  serviceProfile,
} from "../placement/index.ts";
import type { JobView } from "../placement/types.ts";
import { measureCeiling } from "./ceiling.ts";
import { createCell, createTenant } from "./cell.ts";
import { writeLineChart } from "./chart.ts";
import { type BenchDatabase, benchDatabases } from "./database.ts";
import { describeMachine, type MachineInfo, machineLine } from "./machine-info.ts";
import { printTable, RESULTS_DIR, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { median, round } from "./stats.ts";
import { generateJobs, submitJobs } from "./workload.ts";

export interface ScaleOptions {
  /** Cell sizes, in machines. */
  machines: number[];
  /** Claims already in the cell, at the middle cell size. */
  claims: number[];
  /** Machines changed before each timed incremental sync. */
  changes: number[];
  repeat: number;
  seed: number;
}

const CELL = "scale";
const TENANT = "scale";
const PLAN_TASKS = 100;

/**
 * Scenario `scale`: what one plan and one snapshot sync cost as the cell grows and as claims pile
 * up, measured in-process against the real database (no worker processes, so nothing else runs):
 * full sync (a new scheduler), incremental sync after k machine changes, planning a 100-task job
 * with `batch` and `service`, and committing a 100-placement plan. Medians of `repeat` runs.
 */
export async function runScale(options: ScaleOptions): Promise<void> {
  const started = performance.now();
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  const rows: Record<string, number>[] = [];
  let machine: MachineInfo | undefined;
  const middle = options.machines[Math.floor(options.machines.length / 2)] as number;
  try {
    for (const machines of options.machines) {
      for (const claims of machines === middle ? options.claims : [0]) {
        const db = await databases.create(`scale_${machines}_${claims}`);
        try {
          if (!machine) {
            machine = await describeMachine(db.pool, server.kind);
            console.log(machineLine(machine));
          }
          rows.push(await measureCell(db, machines, claims, options));
          console.log(`  measured ${machines} machines, ${claims} claims`);
        } finally {
          await db.drop();
        }
      }
    }
  } finally {
    await databases.close();
    await server.stop();
  }
  printTable("scale: milliseconds per operation (medians)", rows);
  const syncRows = rows.filter((r) => r.claims === 0);
  await writeLineChart(path.join(RESULTS_DIR, "scale-sync.svg"), {
    title: "Incremental snapshot sync: cost follows changes, not cell size",
    xLabel: "machines changed since the last sync",
    yLabel: "milliseconds per sync",
    logX: true,
    series: syncRows.map((r) => ({
      name: `${(r.machines as number).toLocaleString("en-US")} machines`,
      points: options.changes.filter((k) => k > 0).map((k) => [k, r[`sync${k}Ms`] as number] as const),
    })),
    reference: { y: 5, label: "5 ms target" },
  });
  await writeLineChart(path.join(RESULTS_DIR, "scale-plan.svg"), {
    title: `Cost per ${PLAN_TASKS}-task plan and commit vs cell size`,
    xLabel: "machines in the cell",
    yLabel: "milliseconds",
    logX: true,
    series: [
      {
        name: "plan, batch",
        points: syncRows.map((r) => [r.machines as number, r.planBatchMs as number] as const),
      },
      {
        name: "plan, service",
        points: syncRows.map((r) => [r.machines as number, r.planServiceMs as number] as const),
      },
      {
        name: "commit_plan",
        points: syncRows.map((r) => [r.machines as number, r.commitMs as number] as const),
      },
      {
        name: "full sync",
        points: syncRows.map((r) => [r.machines as number, r.fullSyncMs as number] as const),
      },
    ],
  });
  const target = rows.find((r) => r.machines === 10_000 && r.claims === 0);
  const file = await writeResults("scale", {
    machine: machine as MachineInfo,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    // The target: a sync with < 100 changes at 10,000 machines.
    syncOf50ChangesAt10kMs: target?.sync50Ms ?? null,
    rows,
  });
  console.log(`wrote ${file}, ${RESULTS_DIR}/scale-sync.svg and ${RESULTS_DIR}/scale-plan.svg`);
}

async function measureCell(db: BenchDatabase, machines: number, claims: number, options: ScaleOptions) {
  const { pool } = db;
  await createCell(pool, { name: CELL, machines, cpu: 64_000, memory: 262_144 });
  await createTenant(pool, TENANT);
  if (claims > 0) {
    // Claims already there, written the cheapest way (the write ceiling's SQL).
    await submitJobs(pool, generateJobs(claims, options.seed), {
      cell: CELL,
      tenant: TENANT,
      scheduler: "batch",
    });
    await measureCeiling(db.url, CELL, 1);
  }
  await pool.query("vacuum analyze");
  const row: Record<string, number> = { machines, claims };

  const full: number[] = [];
  for (let i = 0; i < options.repeat; i++) full.push(await timed(() => new CellSnapshot(pool, CELL).sync()));
  row.fullSyncMs = round(median(full), 1);

  const snapshot = new CellSnapshot(pool, CELL);
  await snapshot.sync();
  const random = mulberry32(options.seed);
  for (const k of options.changes) {
    const times: number[] = [];
    const read: number[] = [];
    for (let i = 0; i < options.repeat; i++) {
      await changeMachines(pool, machines, k, random);
      const t = performance.now();
      const { changed } = await snapshot.sync();
      times.push(performance.now() - t);
      read.push(changed);
    }
    row[`sync${k}Ms`] = round(median(times), 2);
    // More rows than changes means other transactions held the server's xmin back (shared server).
    row[`sync${k}Rows`] = median(read);
  }

  const job = await submitAndLoad(pool);
  row.planBatchMs = round(median(timesOf(options.repeat, () => plan(snapshot, job, batchProfile))), 2);
  row.planServiceMs = round(median(timesOf(options.repeat, () => plan(snapshot, job, serviceProfile))), 2);

  const commits: number[] = [];
  for (let i = 0; i < options.repeat; i++) {
    const fresh = await submitAndLoad(pool);
    await snapshot.sync();
    const placements = plan(snapshot, fresh, batchProfile);
    commits.push(
      await timed(() =>
        commitPlan(pool, {
          cell: CELL,
          scheduler: "batch",
          worker: "scale",
          placements,
          transactionMode: "incremental",
          conflictMode: "fine",
        }),
      ),
    );
  }
  row.commitMs = round(median(commits), 2);
  return row;
}

/** Touches k distinct random machines (all of them if k is larger), as commits would. */
async function changeMachines(pool: Pool, machines: number, k: number, random: () => number): Promise<void> {
  if (k === 0) return;
  // A partial Fisher–Yates over the ids 1..machines (the cell's machines were inserted in order).
  const ids = Array.from({ length: machines }, (_, i) => i + 1);
  const n = Math.min(k, machines);
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (machines - i));
    [ids[i], ids[j]] = [ids[j] as number, ids[i] as number];
  }
  await pool.query("update omega.machines set tasks = tasks where cell = $1 and id = any($2)", [
    CELL,
    ids.slice(0, n),
  ]);
}

/** A fresh 100-task job, leased and loaded as a worker would. */
async function submitAndLoad(pool: Pool): Promise<JobView> {
  await submitJobs(pool, [{ tasks: PLAN_TASKS, cpu: 500, memory: 1024 }], {
    cell: CELL,
    tenant: TENANT,
    scheduler: "batch",
  });
  const leased = await leaseJobs(pool, {
    cell: CELL,
    scheduler: "batch",
    owner: "scale",
    limit: 1,
    leaseSeconds: 60,
  });
  await releaseLeases(
    pool,
    CELL,
    leased.map((j) => j.id),
    "scale",
  );
  const [job] = await loadJobViews(pool, CELL, leased);
  if (!job) throw new Error("no job to plan");
  return job;
}

function plan(snapshot: CellSnapshot, job: JobView, profile: SchedulerProfile) {
  return planJob(snapshot.list(), job, profile, new InFlight(), mulberry32(job.id)).placements;
}

function timesOf(repeat: number, work: () => unknown): number[] {
  return Array.from({ length: repeat }, () => {
    const t = performance.now();
    work();
    return performance.now() - t;
  });
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await work();
  return performance.now() - t;
}
