import type { JobView, Placement } from "../placement/types.ts";
import type { Pool } from "./pool.ts";

/**
 * The database side of a scheduler worker: lease work, read what a plan needs, commit the plan,
 * park what cannot be placed. Every write goes through a stored procedure.
 */

export interface LeasedJob {
  id: number;
  priority: number;
  cpu: number;
  memory: number;
  gpu: number;
  disk: number;
  selector: Record<string, string>;
  affinity: JobView["constraints"]["affinity"];
  tolerations: JobView["constraints"]["tolerations"];
  max_per_machine: number | null;
  spread_by: string | null;
  gang_min: number | null;
}

export async function leaseJobs(
  pool: Pool,
  args: { cell: string; scheduler: string; owner: string; limit: number; leaseSeconds: number },
): Promise<LeasedJob[]> {
  const { rows } = await pool.query<LeasedJob>(
    `select id, priority, cpu, memory, gpu, disk, selector, affinity, tolerations, max_per_machine, spread_by, gang_min
     from omega.lease_jobs($1, $2, $3, $4, $5)`,
    [args.cell, args.scheduler, args.owner, args.limit, args.leaseSeconds],
  );
  return rows;
}

/** The pending tasks and current per-machine claim counts of the given jobs, as planning input. */
export async function loadJobViews(pool: Pool, cell: string, jobs: readonly LeasedJob[]): Promise<JobView[]> {
  const ids = jobs.map((j) => j.id);
  const [tasks, claims] = await Promise.all([
    pool.query<{ job_id: number; ids: number[] }>(
      `select job_id, array_agg(id order by id) as ids from omega.tasks
       where cell = $1 and job_id = any($2) and state = 'pending' group by job_id`,
      [cell, ids],
    ),
    pool.query<{ job_id: number; machine_id: number; n: number }>(
      `select job_id, machine_id, count(*)::int as n from omega.claims
       where cell = $1 and job_id = any($2) group by job_id, machine_id`,
      [cell, ids],
    ),
  ]);
  const pending = new Map(tasks.rows.map((r) => [r.job_id, r.ids.map(Number)]));
  const placed = new Map<number, Map<number, number>>();
  for (const r of claims.rows) {
    const perMachine = placed.get(r.job_id) ?? new Map<number, number>();
    placed.set(r.job_id, perMachine.set(r.machine_id, r.n));
  }
  return jobs.map((j) => ({
    id: j.id,
    priority: j.priority,
    request: { cpu: j.cpu, memory: j.memory, gpu: j.gpu, disk: j.disk },
    constraints: {
      selector: j.selector,
      affinity: j.affinity,
      tolerations: j.tolerations,
      maxPerMachine: j.max_per_machine,
      spreadBy: j.spread_by,
    },
    gangMin: j.gang_min,
    pendingTaskIds: pending.get(j.id) ?? [],
    placedPerMachine: placed.get(j.id) ?? new Map(),
  }));
}

export interface PlacementOutcome {
  task_id: number;
  machine_id: number;
  outcome: "committed" | "rejected";
  reason: string | null;
}

export async function commitPlan(
  pool: Pool,
  args: {
    cell: string;
    scheduler: string;
    worker: string;
    placements: readonly Placement[];
    transactionMode: "incremental" | "all-or-nothing";
    conflictMode: "fine" | "coarse";
  },
): Promise<PlacementOutcome[]> {
  const { rows } = await pool.query<PlacementOutcome>(
    "select * from omega.commit_plan($1, $2, $3, $4, $5, $6, $7, $8)",
    [
      args.cell,
      args.scheduler,
      args.placements.map((p) => p.taskId),
      args.placements.map((p) => p.machineId),
      args.placements.map((p) => p.machineVersion),
      args.transactionMode,
      args.conflictMode,
      args.worker,
    ],
  );
  return rows;
}

/** False when capacity was freed since `seenEpoch`: the job was not parked and must be planned again. */
export async function parkJob(
  pool: Pool,
  args: { cell: string; jobId: number; owner: string; seenEpoch: number; reason: string },
): Promise<boolean> {
  const { rows } = await pool.query<{ parked: boolean }>(
    "select omega.park_job($1, $2, $3, $4, $5) as parked",
    [args.cell, args.jobId, args.owner, args.seenEpoch, args.reason],
  );
  return rows[0]?.parked ?? false;
}

export async function releaseLeases(
  pool: Pool,
  cell: string,
  jobIds: readonly number[],
  owner: string,
): Promise<void> {
  await pool.query("select omega.release_leases($1, $2, $3)", [cell, jobIds, owner]);
}

/** Extends the leases `owner` still holds on these jobs (the worker's heartbeat); returns how many. */
export async function renewLeases(
  pool: Pool,
  args: { cell: string; jobIds: readonly number[]; owner: string; leaseSeconds: number },
): Promise<number> {
  const { rows } = await pool.query<{ n: number }>("select omega.renew_leases($1, $2, $3, $4) as n", [
    args.cell,
    args.jobIds,
    args.owner,
    args.leaseSeconds,
  ]);
  return rows[0]?.n ?? 0;
}

export async function wake(pool: Pool, cell: string, scheduler: string): Promise<void> {
  await pool.query("select omega.wake($1, $2)", [cell, scheduler]);
}

export async function wakeStale(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>("select omega.wake_stale() as n");
  return rows[0]?.n ?? 0;
}
