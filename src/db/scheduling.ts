import { bandOf } from "../domain/priority.ts";
import type { VictimView } from "../placement/preemption.ts";
import type { JobView, Placement, QuotaView } from "../placement/types.ts";
import type { Pool } from "./pool.ts";

interface QuotaRow {
  tenant_id: number;
  band: QuotaView["band"];
  cpu: number;
  memory: number;
  gpu: number;
  disk: number;
}

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
  task_count: number;
  tenant_id: number;
}

/** Registers (or updates) a scheduler profile, so jobs may name it (omega.register_scheduler). */
export async function registerScheduler(pool: Pool, name: string, profile: unknown): Promise<void> {
  await pool.query("select omega.register_scheduler($1, $2)", [name, profile]);
}

export async function leaseJobs(
  pool: Pool,
  args: { cell: string; scheduler: string; owner: string; limit: number; leaseSeconds: number },
): Promise<LeasedJob[]> {
  const { rows } = await pool.query<LeasedJob>(
    `select id, priority, cpu, memory, gpu, disk, selector, affinity, tolerations, max_per_machine, spread_by, gang_min,
       task_count, tenant_id
     from omega.lease_jobs($1, $2, $3, $4, $5)`,
    [args.cell, args.scheduler, args.owner, args.limit, args.leaseSeconds],
  );
  return rows;
}

/** The pending tasks and current per-machine claim counts of the given jobs, as planning input. */
export async function loadJobViews(pool: Pool, cell: string, jobs: readonly LeasedJob[]): Promise<JobView[]> {
  const ids = jobs.map((j) => j.id);
  const [tasks, claims, quotas] = await Promise.all([
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
    pool.query<QuotaRow>(
      `select tenant_id, band, cpu - used_cpu as cpu, memory - used_memory as memory, gpu - used_gpu as gpu,
         disk - used_disk as disk
       from omega.quotas where cell = $1 and tenant_id = any($2)`,
      [cell, [...new Set(jobs.map((j) => j.tenant_id))]],
    ),
  ]);
  const quotaOf = new Map<string, QuotaView>();
  for (const q of quotas.rows) {
    const key = `${q.tenant_id}:${q.band}`;
    quotaOf.set(key, { key, band: q.band, free: { cpu: q.cpu, memory: q.memory, gpu: q.gpu, disk: q.disk } });
  }
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
    taskCount: j.task_count,
    gangMin: j.gang_min,
    quota: quotaOf.get(`${j.tenant_id}:${bandOf(j.priority)}`) ?? null,
    pendingTaskIds: pending.get(j.id) ?? [],
    placedPerMachine: placed.get(j.id) ?? new Map(),
  }));
}

import type { PlacementOutcome } from "../scheduler/interfaces.ts";

export type { PlacementOutcome };

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
    "select * from omega.commit_plan($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    [
      args.cell,
      args.scheduler,
      args.placements.map((p) => p.taskId),
      args.placements.map((p) => p.machineId),
      args.placements.map((p) => p.machineVersion),
      args.transactionMode,
      args.conflictMode,
      args.worker,
      args.placements.flatMap((p) => p.victims ?? []),
      args.placements.flatMap((p) => (p.victims ?? []).map(() => p.taskId)),
    ],
  );
  return rows;
}

/**
 * Claims on `machineIds` that a task of `priority` may evict (SPEC: strictly lower, and never
 * production by production), with what a gang victim's job can spare.
 */
export async function loadVictims(
  pool: Pool,
  cell: string,
  machineIds: readonly number[],
  priority: number,
): Promise<Map<number, VictimView[]>> {
  const { rows } = await pool.query<VictimRow>(
    `with victims as (
       select c.* from omega.claims c
       where c.cell = $1 and c.machine_id = any($2) and c.priority < $3 and not (c.priority >= 200 and $3 >= 200))
     select v.machine_id, v.task_id, v.job_id, v.priority, v.cpu, v.memory, v.gpu, v.disk, j.gang_min,
       (select count(*)::int from omega.claims c where c.cell = $1 and c.job_id = v.job_id) as job_claims
     from victims v join omega.jobs j on j.cell = $1 and j.id = v.job_id`,
    [cell, machineIds, priority],
  );
  const byMachine = new Map<number, VictimView[]>();
  for (const r of rows) {
    const list = byMachine.get(r.machine_id) ?? [];
    list.push({
      taskId: r.task_id,
      jobId: r.job_id,
      priority: r.priority,
      request: { cpu: r.cpu, memory: r.memory, gpu: r.gpu, disk: r.disk },
      gangMin: r.gang_min,
      jobClaims: r.job_claims,
    });
    byMachine.set(r.machine_id, list);
  }
  return byMachine;
}

interface VictimRow {
  machine_id: number;
  task_id: number;
  job_id: number;
  priority: number;
  cpu: number;
  memory: number;
  gpu: number;
  disk: number;
  gang_min: number | null;
  job_claims: number;
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
