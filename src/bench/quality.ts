import type { Queryable } from "../db/queries/queryable.ts";
import { createTenant } from "./cell.ts";
import { benchDatabases } from "./database.ts";
import { describeMachine, type MachineInfo, machineLine } from "./machine-info.ts";
import {
  type QualityJob,
  type QualityMachine,
  qualityJobs,
  qualityMachines,
  qualitySpec,
} from "./quality-workload.ts";
import { printTable, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { round } from "./stats.ts";
import { startWorkers, sumTotals } from "./workers.ts";

export interface QualityOptions {
  machines: number;
  /** The workload's cpu demand as a multiple of the cell's cpu (above 1 saturates it). */
  demand: number;
  schedulers: string[];
  seed: number;
  /** Give up waiting for a scheduler to settle after this many seconds. */
  timeout: number;
}

const CELL = "quality";
const TENANT = "bench";

/** What a placement leaves behind, measured in SQL once the scheduler has nothing left to try. */
export interface QualityMetrics {
  placedTasks: number;
  unplacedTasks: number;
  cpuUtilisation: number;
  memoryUtilisation: number;
  /** GPUs free on machines that cannot take any pending GPU task (0 when none is pending). */
  strandedGpus: number;
  freeGpus: number;
  /** Placed tasks of jobs with `locality` that landed on a machine holding their data. */
  localityHits: number;
  localityPlaced: number;
}

/**
 * Scenario `quality`: the same saturating workload (quality-workload.ts) replayed through each
 * scheduler on the real system — a fresh database, the whole workload submitted in SQL, one
 * `omega worker` of that scheduler started, and its time until nothing schedulable waits — then
 * placement quality read in SQL: utilisation at saturation, unplaced tasks, stranded GPUs, locality
 * hits. Batch and service ignore `locality`; their hits are what chance gives.
 *
 * Hook for the rebalancer (issue 16, item 1): a run named "<scheduler>+rebalance" would start a
 * rebalance worker after the scheduler settles, measure again once it settles too, and add the
 * columns `improvementPerMove` computes from the two measurements and the moves it made.
 */
export async function runQuality(options: QualityOptions): Promise<void> {
  const started = performance.now();
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  const machines = qualityMachines(options.machines);
  const jobs = qualityJobs(machines, options.seed, { demand: options.demand });
  const rows: Record<string, number | string | null>[] = [];
  let machine: MachineInfo | undefined;
  try {
    for (const scheduler of options.schedulers) {
      const db = await databases.create(`quality_${scheduler}`);
      try {
        if (!machine) {
          machine = await describeMachine(db.pool, server.kind);
          console.log(machineLine(machine));
        }
        await createQualityCell(db.pool, machines);
        await createTenant(db.pool, TENANT);
        await submit(db.pool, jobs, scheduler);
        const workers = await startWorkers(db.pool, db.url, { scheduler, count: 1, reportEvaluations: true });
        const t0 = performance.now();
        let settled: boolean;
        try {
          settled = await settle(db.pool, options.timeout);
        } finally {
          await workers.stop();
        }
        const seconds = (performance.now() - t0) / 1000;
        const totals = sumTotals(workers.totals);
        const m = await measureQuality(db.pool, CELL);
        rows.push({
          scheduler,
          settled: settled ? "yes" : "timeout",
          seconds: round(seconds, 1),
          planMs: round(totals.planMs, 0),
          commitMs: round(totals.commitMs, 0),
          placed: m.placedTasks,
          unplaced: m.unplacedTasks,
          cpuUtil: round(m.cpuUtilisation, 3),
          memUtil: round(m.memoryUtilisation, 3),
          strandedGpus: m.strandedGpus,
          freeGpus: m.freeGpus,
          localityHits: m.localityPlaced === 0 ? null : round(m.localityHits / m.localityPlaced, 3),
        });
      } finally {
        await db.drop();
      }
    }
  } finally {
    await databases.close();
    await server.stop();
  }
  const tasks = jobs.reduce((n, j) => n + j.tasks, 0);
  printTable(
    `quality: ${jobs.length} jobs (${tasks} tasks, ${options.demand}× the cpu) on ${options.machines} machines, per scheduler`,
    rows,
  );
  if (!machine) throw new Error("no run was measured");
  const file = await writeResults("quality", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    workload: { jobs: jobs.length, tasks, gpuJobs: jobs.filter((j) => j.gpu > 0).length },
    rows,
  });
  console.log(`wrote ${file}`);
}

/** The columns a rebalance run adds: each metric's change per task moved (the rebalancer's hook). */
export function improvementPerMove(
  before: QualityMetrics,
  after: QualityMetrics,
  moves: number,
): Record<string, number | null> {
  const per = (delta: number) => (moves === 0 ? null : round(delta / moves, 4));
  return {
    moves,
    cpuUtilPerMove: per(after.cpuUtilisation - before.cpuUtilisation),
    unplacedPerMove: per(after.unplacedTasks - before.unplacedTasks),
    strandedGpusPerMove: per(after.strandedGpus - before.strandedGpus),
    localityHitsPerMove: per(after.localityHits - before.localityHits),
  };
}

async function createQualityCell(db: Queryable, machines: readonly QualityMachine[]): Promise<void> {
  await db.query("select omega.create_cell($1)", [CELL]);
  await db.query(`select omega.set_quota_policy($1, '{"production": "unlimited"}')`, [CELL]);
  // One statement, not an API call per machine (see cell.ts).
  await db.query(
    `insert into omega.machines (cell, name, cpu, memory, gpu, labels)
     select $1, m.name, m.cpu, m.memory, m.gpu, m.labels
     from jsonb_to_recordset($2::jsonb) as m(name text, cpu bigint, memory bigint, gpu bigint, labels jsonb)`,
    [CELL, JSON.stringify(machines)],
  );
}

/** Submits in SQL (omega.submit_job: the same checks as HTTP), 500 jobs per statement. */
async function submit(db: Queryable, jobs: readonly QualityJob[], scheduler: string): Promise<void> {
  for (let i = 0; i < jobs.length; i += 500) {
    const specs = jobs.slice(i, i + 500).map((j) => qualitySpec(j, CELL, scheduler));
    await db.query(
      "select omega.submit_job($1, spec) from jsonb_array_elements($2::jsonb) with ordinality as s(spec, n) order by n",
      [TENANT, JSON.stringify(specs)],
    );
  }
}

/** Waits until every pending job is parked (nothing fits) or placed; false on timeout. */
async function settle(db: Queryable, timeoutSeconds: number): Promise<boolean> {
  const deadline = performance.now() + timeoutSeconds * 1000;
  while (performance.now() < deadline) {
    const { rows } = await db.query<{ n: number }>(
      "select count(*)::int as n from omega.jobs where cell = $1 and state = 'pending' and not blocked",
      [CELL],
    );
    if ((rows[0]?.n ?? 1) === 0) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export async function measureQuality(db: Queryable, cell: string): Promise<QualityMetrics> {
  const { rows } = await db.query<QualityMetrics>(
    `with pending_gpu as (
       select distinct j.cpu, j.memory, j.gpu from omega.jobs j
       where j.cell = $1 and j.state = 'pending' and j.gpu > 0)
     select
       (select count(*)::int from omega.claims where cell = $1) as "placedTasks",
       (select count(*)::int from omega.tasks where cell = $1 and state = 'pending') as "unplacedTasks",
       (select sum(used_cpu)::float8 / nullif(sum(cpu), 0) from omega.machines where cell = $1 and state = 'up')
         as "cpuUtilisation",
       (select sum(used_memory)::float8 / nullif(sum(memory), 0) from omega.machines where cell = $1 and state = 'up')
         as "memoryUtilisation",
       (select coalesce(sum(m.gpu - m.used_gpu), 0)::int from omega.machines m
        where m.cell = $1 and m.state = 'up' and m.gpu > m.used_gpu and exists (select from pending_gpu)
          and not exists (select from pending_gpu p where m.gpu - m.used_gpu >= p.gpu
                            and m.cpu - m.used_cpu >= p.cpu and m.memory - m.used_memory >= p.memory))
         as "strandedGpus",
       (select coalesce(sum(gpu - used_gpu), 0)::int from omega.machines where cell = $1 and state = 'up') as "freeGpus",
       (select count(*)::int from omega.claims c
          join omega.jobs j on j.cell = c.cell and j.id = c.job_id
          join omega.machines m on m.cell = c.cell and m.id = c.machine_id
        where c.cell = $1 and j.locality is not null
          and j.locality -> 'values' ? (m.labels ->> (j.locality ->> 'label'))) as "localityHits",
       (select count(*)::int from omega.claims c join omega.jobs j on j.cell = c.cell and j.id = c.job_id
        where c.cell = $1 and j.locality is not null) as "localityPlaced"`,
    [cell],
  );
  const m = rows[0];
  if (!m) throw new Error("no quality row");
  return m;
}
