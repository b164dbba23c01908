import { JOB_COLUMNS, type JobSummary, jobOf } from "./job-row.ts";
import type { Queryable } from "./queryable.ts";

export const TASK_STATES = ["pending", "placed", "running", "succeeded", "failed", "cancelled"] as const;
export type TaskState = (typeof TASK_STATES)[number];

export interface Placement {
  taskIndex: number;
  taskId: number;
  machine: string;
  placedAt: Date;
}

export interface JobDetail extends JobSummary {
  taskCounts: Record<TaskState, number>;
  placements: Placement[];
  /** Why tasks are still pending, one entry per distinct reason, most tasks first. */
  pendingReasons: { reason: string; tasks: number }[];
}

// One statement, so counts, placements and reasons come from one snapshot. Every per-job read names
// the cell: the key the tables are distributed by.
const SQL = `
  select ${JOB_COLUMNS},
    (select coalesce(json_object_agg(s.state, s.n), '{}')
     from (select state, count(*)::int as n from omega.tasks
           where cell = j.cell and job_id = j.id group by state) s) as task_counts,
    (select coalesce(json_agg(json_build_object('taskIndex', p.task_index, 'taskId', p.task_id,
              'machine', p.machine, 'placedAt', p.placed_at) order by p.task_index), '[]')
     from omega.placements p where p.cell = j.cell and p.job_id = j.id) as placements,
    (select coalesce(json_agg(json_build_object('reason', r.reason, 'tasks', r.n) order by r.n desc, r.reason), '[]')
     from (select reason, count(*)::int as n from omega.pending_tasks
           where cell = j.cell and job_id = j.id group by reason) r) as pending_reasons
  from omega.jobs j
  join omega.tenants t on t.id = j.tenant_id
  where j.id = $1 and ($2::bigint is null or j.tenant_id = $2)`;

/** The job (owned by `tenantId` when given) with task counts, placements and pending reasons. */
export async function jobGet(
  db: Queryable,
  jobId: number,
  tenantId?: number,
): Promise<JobDetail | undefined> {
  const { rows } = await db.query(SQL, [jobId, tenantId ?? null]);
  const row = rows[0];
  if (!row) return undefined;
  const taskCounts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  Object.assign(taskCounts, row.task_counts);
  const placements = (row.placements as (Omit<Placement, "placedAt"> & { placedAt: string })[]).map((p) => ({
    ...p,
    placedAt: new Date(p.placedAt),
  }));
  return { ...jobOf(row), taskCounts, placements, pendingReasons: row.pending_reasons };
}
