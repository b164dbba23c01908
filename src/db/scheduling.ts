import type { JobView, Placement } from "../placement/types.ts";
import type { Queryable } from "./queries/queryable.ts";

/**
 * The database side of a scheduler worker: lease work, read what a plan needs, commit the plan,
 * park what cannot be placed. Every write goes through a stored procedure. Each call runs on a pool
 * or on one client inside a transaction (the bench's pessimistic baseline holds its locks that way).
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
  db: Queryable,
  args: { cell: string; scheduler: string; owner: string; limit: number; leaseSeconds: number },
): Promise<LeasedJob[]> {
  const { rows } = await db.query<LeasedJob>(
    `select id, priority, cpu, memory, gpu, disk, selector, affinity, tolerations, max_per_machine, spread_by, gang_min
     from omega.lease_jobs($1, $2, $3, $4, $5)`,
    [args.cell, args.scheduler, args.owner, args.limit, args.leaseSeconds],
  );
  return rows;
}

/**
 * The pending tasks and current per-machine claim counts of the given jobs, as planning input. One
 * statement, so it costs one round trip and runs on a client inside a transaction as well.
 */
export async function loadJobViews(
  db: Queryable,
  cell: string,
  jobs: readonly LeasedJob[],
): Promise<JobView[]> {
  const { rows } = await db.query<{ job_id: number; pending: string[]; claimed_on: string[] }>(
    `select j.id as job_id,
       array(select t.id from omega.tasks t
             where t.cell = $1 and t.job_id = j.id and t.state = 'pending' order by t.id) as pending,
       array(select c.machine_id from omega.claims c where c.cell = $1 and c.job_id = j.id) as claimed_on
     from unnest($2::bigint[]) as j(id)`,
    [cell, jobs.map((j) => j.id)],
  );
  const pending = new Map<number, number[]>();
  const placed = new Map<number, Map<number, number>>();
  for (const r of rows) {
    pending.set(r.job_id, r.pending.map(Number));
    const perMachine = new Map<number, number>();
    for (const m of r.claimed_on) perMachine.set(Number(m), (perMachine.get(Number(m)) ?? 0) + 1);
    placed.set(r.job_id, perMachine);
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
  db: Queryable,
  args: {
    cell: string;
    scheduler: string;
    worker: string;
    placements: readonly Placement[];
    transactionMode: "incremental" | "all-or-nothing";
    conflictMode: "fine" | "coarse";
  },
): Promise<PlacementOutcome[]> {
  const { rows } = await db.query<PlacementOutcome>(
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
  db: Queryable,
  args: { cell: string; jobId: number; owner: string; seenEpoch: number; reason: string },
): Promise<boolean> {
  const { rows } = await db.query<{ parked: boolean }>(
    "select omega.park_job($1, $2, $3, $4, $5) as parked",
    [args.cell, args.jobId, args.owner, args.seenEpoch, args.reason],
  );
  return rows[0]?.parked ?? false;
}

export async function releaseLeases(
  db: Queryable,
  cell: string,
  jobIds: readonly number[],
  owner: string,
): Promise<void> {
  await db.query("select omega.release_leases($1, $2, $3)", [cell, jobIds, owner]);
}

export async function wake(db: Queryable, cell: string, scheduler: string): Promise<void> {
  await db.query("select omega.wake($1, $2)", [cell, scheduler]);
}

export async function wakeStale(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select omega.wake_stale() as n");
  return rows[0]?.n ?? 0;
}
