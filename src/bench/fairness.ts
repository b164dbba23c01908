import path from "node:path";
import type { Pool } from "../db/pool.ts";
import { createCell, createTenant } from "./cell.ts";
import { writeLineChart } from "./chart.ts";
import { benchDatabases } from "./database.ts";
import { describeMachine, machineLine } from "./machine-info.ts";
import { printTable, RESULTS_DIR, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { round } from "./stats.ts";
import { startWorkers } from "./workers.ts";

export interface FairnessOptions {
  machines: number;
  seconds: number;
  /** When the late tenant arrives, in seconds from the start. */
  lateAt: number;
  /** Tasks in each of the flooding tenant's jobs, and in each of the late tenant's. */
  bigJobTasks: number;
  /** Big jobs the flooding tenant and the late tenant each submit. */
  bigJobs: number;
  /** One-task jobs the other tenant submits. */
  smallJobs: number;
  workers: number;
}

const CELL = "fair";
/** The target for Jain's index of weighted shares once the cell is full. */
const JAIN_TARGET = 0.95;
/** Per machine: 16 cores, 64 GiB. */
const MACHINE = { cpu: 16_000, memory: 65_536 };
/**
 * A task runs 10–30 s (the bench finishes it, as an agent would report it): churn frees room, at a
 * rate (about 1/20 of the running tasks a second) the schedulers keep up with on a small machine.
 */
const RUNTIME = { min: "10s", max: "30s" };

/**
 * The three tenants. Shapes differ so that dominance differs: `flood`'s and `late`'s tasks are
 * cpu-heavy, `many`'s memory-heavy — DRF compares each tenant on its own dominant resource. Every
 * task asks for one whole core: with 2-core and half-core tasks (the first run, kept as
 * fairness-fragmented.json) the holes finishing tasks leave fit only the smaller tasks, and the
 * tenant of the smallest ones takes them however high its share (work conservation), which is
 * bin-packing's effect rather than the lease order's.
 */
const TENANTS = [
  { name: "flood", weight: 1, resources: { cpu: 1000, memory: 1024 } },
  { name: "many", weight: 1, resources: { cpu: 1000, memory: 8192 } },
  { name: "late", weight: 2, resources: { cpu: 1000, memory: 2048 } },
] as const;

interface Sample {
  t: number;
  cpuFull: number;
  memoryFull: number;
  shares: Record<string, { dominant: number; weighted: number }>;
}

/**
 * Scenario `fairness` (issue 15): three tenants of weights 1, 1 and 2 share one cell — `flood`
 * submits jobs of `bigJobTasks` tasks, `many` submits `smallJobs` one-task jobs, `late` arrives
 * after `lateAt` seconds with jobs as big as flood's. Tasks run 3–9 s, so room keeps being freed,
 * and what is freed goes, within a priority, to the lowest weighted dominant share. Reports each
 * tenant's dominant share over time (chart) and Jain's fairness index of the weighted shares while
 * all three wait for room and the cell is full: 1 is perfectly fair, 1/3 one tenant has it all.
 */
export async function runFairness(options: FairnessOptions): Promise<void> {
  const started = performance.now();
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  try {
    const db = await databases.create("fairness");
    try {
      const machine = await describeMachine(db.pool, server.kind);
      console.log(machineLine(machine));
      await createCell(db.pool, { name: CELL, machines: options.machines, ...MACHINE });
      for (const t of TENANTS) {
        await createTenant(db.pool, t.name);
        await db.pool.query("select omega.set_tenant_weight($1, $2)", [t.name, t.weight]);
      }
      const workers = await startWorkers(db.pool, db.url, { scheduler: "batch", count: options.workers });
      let samples: Sample[];
      try {
        samples = await race(db.pool, options);
      } finally {
        await workers.stop();
      }
      await report(samples, options, machine, started);
    } finally {
      await db.drop();
    }
  } finally {
    await databases.close();
    await server.stop();
  }
}

async function race(pool: Pool, options: FairnessOptions): Promise<Sample[]> {
  // Submitted first, each backlog in one statement (10,000 jobs take a while); the clock starts after.
  await submit(pool, "flood", options.bigJobs, options.bigJobTasks);
  await submit(pool, "many", options.smallJobs, 1);
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const samples: Sample[] = [];
  // Tasks finish on their own loop (a slow tick must not stretch the samples' spacing).
  const finisher = (async () => {
    while (elapsed() < options.seconds) {
      await finishDueTasks(pool);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const late = (async () => {
    await new Promise((r) => setTimeout(r, options.lateAt * 1000));
    await submit(pool, "late", options.bigJobs, options.bigJobTasks);
  })();
  while (elapsed() < options.seconds) {
    samples.push(await sample(pool, elapsed()));
    await new Promise((r) => setTimeout(r, 1000));
  }
  await Promise.all([finisher, late]);
  return samples;
}

/** `count` jobs of `tasks` tasks for the tenant, in one statement (omega.submit_job each). */
async function submit(pool: Pool, tenant: string, count: number, tasks: number): Promise<void> {
  const shape = TENANTS.find((t) => t.name === tenant)?.resources;
  await pool.query(
    `select omega.submit_job($1, jsonb_build_object('cell', $2::text, 'tasks', $3::int, 'priority', 150,
       'scheduler', 'batch', 'resources', $4::jsonb, 'runtime', $5::jsonb)) from generate_series(1, $6)`,
    [tenant, CELL, tasks, shape, RUNTIME, count],
  );
}

/**
 * Reports the tasks whose runtime is over as succeeded (omega.report_task, what an agent calls), in
 * one transaction: their claims are released and their room is freed. A deadlock with a commit or
 * a park is possible (the report takes jobs, then machines and the cell row): it is retried next
 * tick.
 */
async function finishDueTasks(pool: Pool): Promise<void> {
  await pool
    .query(
      `select count(*)
       from (select c.cell, m.name as machine, c.task_id
             from omega.claims c
             join omega.jobs j on j.cell = c.cell and j.id = c.job_id
             join omega.machines m on m.cell = c.cell and m.id = c.machine_id
             where c.cell = $1 and c.placed_at + make_interval(secs => (j.runtime_min_ms
                     + abs(hashint8(c.task_id)) % greatest(j.runtime_max_ms - j.runtime_min_ms, 1)) / 1000.0) < now()
             order by c.job_id, c.task_id
             limit 1000) d
       cross join lateral omega.report_task(d.cell, d.machine, d.task_id, 'succeeded') r`,
      [CELL],
    )
    .catch((error: { code?: string }) => {
      if (error.code !== "40P01") throw error;
    });
}

async function sample(pool: Pool, t: number): Promise<Sample> {
  const { rows } = await pool.query(
    "select tenant, dominant_share, weighted_share from omega.tenant_shares where cell = $1",
    [CELL],
  );
  const { rows: full } = await pool.query(
    `select sum(u.cpu)::float8 / nullif(k.cpu, 0) as cpu, sum(u.memory)::float8 / nullif(k.memory, 0) as memory
     from omega.tenant_usage u join omega.cell_capacity k on k.cell = u.cell where u.cell = $1 group by k.cpu, k.memory`,
    [CELL],
  );
  const shares: Sample["shares"] = {};
  for (const r of rows) shares[r.tenant] = { dominant: r.dominant_share, weighted: r.weighted_share };
  return { t, cpuFull: full[0]?.cpu ?? 0, memoryFull: full[0]?.memory ?? 0, shares };
}

/** Jain's fairness index of x: (Σx)² / (n·Σx²); 1 when all are equal. */
export function jain(values: readonly number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}

async function report(
  samples: readonly Sample[],
  options: FairnessOptions,
  machine: Awaited<ReturnType<typeof describeMachine>>,
  started: number,
): Promise<void> {
  // Once full: the late tenant had time to get its share, and the cell's binding resource is at
  // least 90% used.
  // A settle of one average task lifetime (20 s) after the late tenant arrives, less in short runs.
  const settle = Math.min(20, (options.seconds - options.lateAt) / 2);
  const full = samples.filter(
    (s) => s.t >= options.lateAt + settle && Math.max(s.cpuFull, s.memoryFull) >= 0.9 && s.shares.late,
  );
  const indexes = full.map((s) => jain(TENANTS.map((t) => s.shares[t.name]?.weighted ?? 0)));
  const meanJain =
    indexes.length === 0 ? null : round(indexes.reduce((a, b) => a + b, 0) / indexes.length, 3);
  const minJain = indexes.length === 0 ? null : round(Math.min(...indexes), 3);
  const rows = TENANTS.map((t) => {
    const mean = (key: "dominant" | "weighted") =>
      full.length === 0
        ? null
        : round(full.reduce((a, s) => a + (s.shares[t.name]?.[key] ?? 0), 0) / full.length, 3);
    return {
      tenant: t.name,
      weight: t.weight,
      dominantShare: mean("dominant"),
      weightedShare: mean("weighted"),
    };
  });
  printTable(
    `fairness: ${options.machines} machines, weights 1/1/2, means over ${full.length} samples once full`,
    rows,
  );
  const verdict =
    meanJain === null
      ? "the cell never filled with all three tenants waiting: no fairness index"
      : `Jain's index of weighted shares once full: mean ${meanJain}, min ${minJain} (target ≥ ${JAIN_TARGET}): ${meanJain >= JAIN_TARGET ? "met" : "missed"}`;
  console.log(`\n${verdict}`);
  await writeLineChart(path.join(RESULTS_DIR, "fairness.svg"), {
    title: `Dominant share per tenant, ${options.machines} machines (weights 1/1/2)`,
    xLabel: "seconds",
    yLabel: "dominant share of the cell",
    series: [
      ...TENANTS.map((t) => ({
        name: `${t.name} (w ${t.weight})`,
        points: samples.map((s) => [round(s.t, 1), round(s.shares[t.name]?.dominant ?? 0, 3)] as const),
      })),
      {
        name: "Jain (weighted)",
        points: full.map((s, i) => [round(s.t, 1), round(indexes[i] ?? 0, 3)] as const),
      },
    ],
    reference: { y: JAIN_TARGET, label: `Jain ${JAIN_TARGET}` },
  });
  const file = await writeResults("fairness", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    verdict,
    jain: { mean: meanJain, min: minJain, samples: indexes.length, target: JAIN_TARGET },
    rows,
    samples: samples.map((s) => ({
      t: round(s.t, 1),
      cpuFull: round(s.cpuFull, 3),
      memoryFull: round(s.memoryFull, 3),
      shares: Object.fromEntries(
        Object.entries(s.shares).map(([k, v]) => [
          k,
          { dominant: round(v.dominant, 3), weighted: round(v.weighted, 3) },
        ]),
      ),
    })),
  });
  console.log(`wrote ${file}`);
}
