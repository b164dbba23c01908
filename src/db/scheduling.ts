import { bandOf } from "../domain/priority.ts";
import type { Dimension, Resources } from "../domain/resources.ts";
import type { VictimView } from "../placement/preemption.ts";
import type { ReclaimInput, ReclaimVictim } from "../placement/reclaim.ts";
import type { JobView, Placement, QuotaView } from "../placement/types.ts";
import {
  type ContextRow,
  contextOf,
  type PlacementContext,
  placementContexts,
} from "./queries/placement-context.ts";
import type { Queryable } from "./queries/queryable.ts";
import { type SyncRow, syncQuery } from "./snapshot.ts";

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
  task_count: number;
  tenant_id: number;
}

/** Registers (or updates) a scheduler profile, so jobs may name it (omega.register_scheduler). */
export async function registerScheduler(db: Queryable, name: string, profile: unknown): Promise<void> {
  await db.query("select omega.register_scheduler($1, $2)", [name, profile]);
}

export async function leaseJobs(
  db: Queryable,
  args: { cell: string; scheduler: string; owner: string; limit: number; leaseSeconds: number },
): Promise<LeasedJob[]> {
  const { rows } = await db.query<LeasedJob>(
    `select id, priority, cpu, memory, gpu, disk, selector, affinity, tolerations, max_per_machine, spread_by, gang_min,
       task_count, tenant_id
     from omega.lease_jobs($1, $2, $3, $4, $5)`,
    [args.cell, args.scheduler, args.owner, args.limit, args.leaseSeconds],
  );
  return rows;
}

/** A row of omega.lease_work: the job, and what a plan needs of it. */
interface LeasedWorkRow extends LeasedJob {
  pending: string[];
  claimed_on: string[];
  /** Null when no quota limits the job. */
  quota_band: QuotaView["band"] | null;
  quota_cpu: number | null;
  quota_memory: number | null;
  quota_gpu: number | null;
  quota_disk: number | null;
}

/**
 * Leases up to `limit` jobs and reads their planning input in the same round trip
 * (omega.lease_work): the job, its pending tasks, where its placed tasks are, its free quota — and
 * their placement vocabulary (omega.placement_context), in the same statement. Given a snapshot's
 * cursor (`since`), the statement also reads the snapshot's sync when it leased anything.
 */
export async function leaseWork(
  db: Queryable,
  args: { cell: string; scheduler: string; owner: string; limit: number; leaseSeconds: number },
  since?: { cursor: string | null },
): Promise<{ leased: LeasedJob[]; views: JobView[]; synced: SyncRow | null }> {
  const values = [args.cell, args.scheduler, args.owner, args.limit, args.leaseSeconds];
  // Named, as every statement of the hot path: prepared once per connection rather than parsed,
  // analyzed and planned at every call (a serial lease + commit: 2.53–2.72 → 2.29–2.41 ms of
  // backend CPU, scripts/commit-cost.ts, session 11). One statement, not a lease, a read of the
  // leased jobs' vocabulary and a sync: on this machine a round trip costs the worker about as much
  // CPU in its socket write as the backend spends answering (session 12).
  let rows: (LeasedWorkRow & Partial<ContextRow>)[];
  let synced: SyncRow | null = null;
  if (!since) ({ rows } = await db.query({ name: "omega.lease_in_context", text: LEASE, values }));
  else {
    const whole = since.cursor === null;
    const { rows: head } = await db.query<{ work: typeof rows; synced: SyncRow | null }>({
      name: whole ? "omega.lease_and_read" : "omega.lease_and_sync",
      text: whole ? LEASE_AND_READ : LEASE_AND_SYNC,
      values: whole ? values : [...values, since.cursor],
    });
    rows = head[0]?.work ?? [];
    synced = head[0]?.synced ?? null;
  }
  const views = rows.map((row) =>
    jobView(row, row, row.job_id == null ? undefined : contextOf(row as ContextRow)),
  );
  return { leased: rows, views, synced };
}

// The lease runs first and once (a materialized CTE); the context reads the jobs it leased.
const LEASED = `
  with leased as materialized (select * from omega.lease_work($1, $2, $3, $4, $5)),
    context as materialized (select * from omega.placement_context($1, array(select id from leased)))`;
const WORK = `select l.*, c.job_id, c.labels, c.ports, c.vocabulary, c.port_machines, c.forbidden, c.required
  from leased l left join context c on c.job_id = l.id`;
const LEASE = `${LEASED} ${WORK}`;
// The jobs as JSON beside one sync row; a lease that took nothing reads no sync (an empty lease
// still happens: a wake-up sent to every worker of a scheduler, one takes the work).
const leaseAnd = (cursor: string | null) => `${LEASED}
  select coalesce((select json_agg(w) from (${WORK}) w), '[]') as work,
    case when exists (select from leased) then (select row_to_json(s) from (${syncQuery("$1", cursor)}) s) end as synced`;
const LEASE_AND_READ = leaseAnd(null);
const LEASE_AND_SYNC = leaseAnd("$6");

/**
 * The same planning input for jobs already leased (a retry round), in one statement, so it costs
 * one round trip and runs on a client inside a transaction as well.
 */
export async function loadJobViews(
  db: Queryable,
  cell: string,
  jobs: readonly LeasedJob[],
): Promise<JobView[]> {
  const { rows } = await db.query<Omit<LeasedWorkRow, keyof LeasedJob> & { job_id: number }>(
    `select j.id as job_id,
       array(select t.id from omega.tasks t
             where t.cell = $1 and t.job_id = j.id and t.state = 'pending' order by t.id) as pending,
       array(select c.machine_id from omega.claims c where c.cell = $1 and c.job_id = j.id) as claimed_on,
       q.band as quota_band, q.cpu as quota_cpu, q.memory as quota_memory, q.gpu as quota_gpu, q.disk as quota_disk
     from unnest($2::bigint[], $3::bigint[], $4::text[]) as j(id, tenant_id, band)
     left join lateral omega.quota_free($1, j.tenant_id, j.band) q on true`,
    [cell, jobs.map((j) => j.id), jobs.map((j) => j.tenant_id), jobs.map((j) => bandOf(j.priority))],
  );
  const byJob = new Map(rows.map((r) => [r.job_id, r]));
  const contexts = await placementContexts(
    db,
    cell,
    jobs.map((j) => Number(j.id)),
  );
  return jobs.map((j) => {
    const input = byJob.get(j.id);
    return jobView(
      input ?? {
        ...j,
        pending: [],
        claimed_on: [],
        quota_band: null,
        quota_cpu: null,
        quota_memory: null,
        quota_gpu: null,
        quota_disk: null,
      },
      j,
      contexts.get(Number(j.id)),
    );
  });
}

function jobView(
  input: Omit<LeasedWorkRow, keyof LeasedJob>,
  job: LeasedJob,
  context?: PlacementContext,
): JobView {
  const placedPerMachine = new Map<number, number>();
  for (const m of input.claimed_on)
    placedPerMachine.set(Number(m), (placedPerMachine.get(Number(m)) ?? 0) + 1);
  const quota: QuotaView | null = input.quota_band
    ? {
        key: `${job.tenant_id}:${input.quota_band}`,
        band: input.quota_band,
        free: {
          cpu: input.quota_cpu ?? 0,
          memory: input.quota_memory ?? 0,
          gpu: input.quota_gpu ?? 0,
          disk: input.quota_disk ?? 0,
        },
      }
    : null;
  return {
    id: job.id,
    priority: job.priority,
    request: { cpu: job.cpu, memory: job.memory, gpu: job.gpu, disk: job.disk },
    constraints: {
      selector: job.selector,
      affinity: job.affinity,
      tolerations: job.tolerations,
      maxPerMachine: job.max_per_machine,
      spreadBy: job.spread_by,
      preferredAffinity: context?.preferredAffinity ?? [],
    },
    taskCount: job.task_count,
    gangMin: job.gang_min,
    quota,
    tenantId: Number(job.tenant_id),
    pendingTaskIds: input.pending.map(Number),
    placedPerMachine,
    ...(context?.vocabulary ? { vocabulary: context.vocabulary } : {}),
    ...(context && Object.keys(context.labels).length > 0 ? { labels: context.labels } : {}),
  };
}

import type { PlacementOutcome } from "../scheduler/interfaces.ts";

export type { PlacementOutcome };

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
  const { rows } = await db.query<PlacementOutcome>({
    name: "omega.commit_plan",
    text: "select * from omega.commit_plan($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    values: [
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
  });
  return rows;
}

/**
 * Claims on `machineIds` that a task of `priority` may evict (SPEC: strictly lower, and never
 * production by production), with what a gang victim's job can spare.
 */
export async function loadVictims(
  db: Queryable,
  cell: string,
  machineIds: readonly number[],
  priority: number,
): Promise<Map<number, VictimView[]>> {
  const { rows } = await db.query<VictimRow>({
    // Prepared once per connection; the function pins its generic plan (0300).
    name: "omega.victims_on",
    text: "select * from omega.victims_on($1, $2, $3)",
    values: [cell, machineIds, priority],
  });
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

/**
 * What a tenant whose quota its cohort lent out may take back (SPEC "Sharing"): its unused nominal
 * quota, what each other member borrows now, and the claims of borrowing members in the same band
 * of equal or lower priority (never production for production), by machine. Null when the tenant's
 * quota in that band names no cohort. Read only for work that waits on its cohort.
 */
export async function loadReclaimable(
  db: Queryable,
  cell: string,
  tenantId: number,
  priority: number,
): Promise<ReclaimInput | null> {
  const band = bandOf(priority);
  if (band === "best-effort") return null;
  const own = await db.query<Record<string, number>>(
    `select greatest(nominal_cpu - used_cpu, 0) as cpu, greatest(nominal_memory - used_memory, 0) as memory,
       greatest(nominal_gpu - used_gpu, 0) as gpu, greatest(nominal_disk - used_disk, 0) as disk
     from omega.quotas where cell = $1 and tenant_id = $2 and band = $3 and cohort is not null`,
    [cell, tenantId, band],
  );
  const nominal = own.rows[0];
  if (!nominal) return null;
  const { rows } = await db.query<VictimRow & { tenant_id: number } & Record<`b_${Dimension}`, number>>(
    `select c.machine_id, c.task_id, c.job_id, c.priority, c.cpu, c.memory, c.gpu, c.disk, c.tenant_id, j.gang_min,
       0 as job_claims,
       greatest(vq.used_cpu - vq.nominal_cpu, 0) as b_cpu, greatest(vq.used_memory - vq.nominal_memory, 0) as b_memory,
       greatest(vq.used_gpu - vq.nominal_gpu, 0) as b_gpu, greatest(vq.used_disk - vq.nominal_disk, 0) as b_disk
     from omega.quotas pq
     join omega.quotas vq on vq.cell = pq.cell and vq.band = pq.band and vq.cohort = pq.cohort and vq.tenant_id <> pq.tenant_id
     join omega.jobs j on j.tenant_id = vq.tenant_id and j.cell = pq.cell and j.priority <= $4
       and j.state in ('pending', 'placed', 'running')
     join omega.claims c on c.cell = j.cell and c.job_id = j.id
     where pq.cell = $1 and pq.tenant_id = $2 and pq.band = $3
       and (vq.used_cpu > vq.nominal_cpu or vq.used_memory > vq.nominal_memory
            or vq.used_gpu > vq.nominal_gpu or vq.used_disk > vq.nominal_disk)
       and (case when $3 = 'batch' then j.priority between 100 and 199 else j.priority >= 200 end)
       and not (j.priority >= 200 and $4 >= 200)
     limit 5000`,
    [cell, tenantId, band, priority],
  );
  const borrowed = new Map<number, Resources>();
  const victimsOn = new Map<number, ReclaimVictim[]>();
  for (const r of rows) {
    borrowed.set(r.tenant_id, { cpu: r.b_cpu, memory: r.b_memory, gpu: r.b_gpu, disk: r.b_disk });
    const list = victimsOn.get(r.machine_id) ?? [];
    list.push({
      taskId: r.task_id,
      jobId: r.job_id,
      priority: r.priority,
      request: { cpu: r.cpu, memory: r.memory, gpu: r.gpu, disk: r.disk },
      gangMin: r.gang_min,
      jobClaims: r.job_claims,
      tenantId: r.tenant_id,
    });
    victimsOn.set(r.machine_id, list);
  }
  return {
    nominalFree: {
      cpu: nominal.cpu ?? 0,
      memory: nominal.memory ?? 0,
      gpu: nominal.gpu ?? 0,
      disk: nominal.disk ?? 0,
    },
    borrowed,
    victimsOn,
  };
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
  db: Queryable,
  args: { cell: string; jobId: number; owner: string; seenEpoch: number; reason: string },
): Promise<boolean> {
  const { rows } = await db.query<{ parked: boolean }>(
    "select omega.park_job($1, $2, $3, $4, $5) as parked",
    [args.cell, args.jobId, args.owner, args.seenEpoch, args.reason],
  );
  return rows[0]?.parked ?? false;
}

/**
 * Parks jobs in one round trip (see parkJob); returns the ids parked, none when capacity was freed
 * since `seenEpoch`.
 */
export async function parkJobs(
  db: Queryable,
  args: {
    cell: string;
    jobs: readonly { jobId: number; reason: string }[];
    owner: string;
    seenEpoch: number;
  },
): Promise<Set<number>> {
  const { rows } = await db.query<{ parked: string[] }>(
    "select omega.park_jobs($1, $2, $3, $4, $5) as parked",
    [args.cell, args.jobs.map((j) => j.jobId), args.owner, args.seenEpoch, args.jobs.map((j) => j.reason)],
  );
  return new Set((rows[0]?.parked ?? []).map(Number));
}

export async function releaseLeases(
  db: Queryable,
  cell: string,
  jobIds: readonly number[],
  owner: string,
): Promise<void> {
  await db.query("select omega.release_leases($1, $2, $3)", [cell, jobIds, owner]);
}

/** Extends the leases `owner` still holds on these jobs (the worker's heartbeat); returns how many. */
export async function renewLeases(
  db: Queryable,
  args: { cell: string; jobIds: readonly number[]; owner: string; leaseSeconds: number },
): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select omega.renew_leases($1, $2, $3, $4) as n", [
    args.cell,
    args.jobIds,
    args.owner,
    args.leaseSeconds,
  ]);
  return rows[0]?.n ?? 0;
}

/** Wakes the worker that leads the scheduler's workers (src/queue/wake-listener.ts). */
export async function wake(db: Queryable, cell: string, scheduler: string): Promise<void> {
  await db.query("select omega.wake($1, $2)", [cell, scheduler]);
}

/** Wakes every worker of the scheduler, not only the one that leads (0280). */
export async function wakeEveryWorker(db: Queryable, cell: string, scheduler: string): Promise<void> {
  await db.query("select omega.wake_every_worker($1, $2)", [cell, scheduler]);
}

export async function wakeStale(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>("select omega.wake_stale() as n");
  return rows[0]?.n ?? 0;
}
