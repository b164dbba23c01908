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
  /** Tasks by state: always complete, whatever page of placements is shown. */
  taskCounts: Record<TaskState, number>;
  /** One page of placements, by task index (`?after=<taskIndex>&limit=`). */
  placements: Placement[];
  /** The task index to pass as `after` for the next page; null on the last. */
  next: number | null;
  /** Why tasks are still pending, one entry per distinct reason, most tasks first (at most 20). */
  pendingReasons: { reason: string; tasks: number }[];
}

export interface JobPage {
  /** Placements of tasks with a greater index. (Default: -1, from the first.) */
  after?: number;
  /** At most this many placements. (Default: 1000.) */
  limit?: number;
}

export const DEFAULT_PLACEMENTS_PAGE = 1000;

/**
 * The reason of a pending task no scheduler has written one for (omega.pending_tasks' default). A
 * job that no worker of its scheduler has touched a minute after submission — nothing placed,
 * nothing parked — says so and asks whether one runs (issue 17, L3: a scheduler name registered
 * once stays known after its last worker is gone, and its jobs waited without a word).
 */
const UNTOUCHED_REASON = `case
    when not j.blocked and j.updated_at = j.created_at and j.created_at < now() - interval '1 minute' then
      format('waiting for the %s scheduler, which has not taken this job in %s s: is a worker of it running?',
        j.scheduler, floor(extract(epoch from now() - j.created_at)))
    else 'waiting for the ' || j.scheduler || ' scheduler' end`;

// One statement, so counts, placements and reasons come from one snapshot. Every per-job read names
// the cell: the key the tables are distributed by. A page of placements walks the job's tasks in
// index order (the unique index on (cell, job_id, index)) and stops after limit + 1 claims: a
// 100,000-task job answers in the time of one page, not of the whole job (M2 of issue 17: 9 MB and
// 2.3 s before). Reasons go through omega.tenant_reason when a tenant asks ($3). `jobs` and `which`
// name the jobs read: one by id ($1, with its tenant $2 when a tenant asks), or several by (id, tenant).
const detailSql = (jobs: string, which: string) => `
  select ${JOB_COLUMNS}, j.tenant_id,
    (select coalesce(json_object_agg(s.state, s.n), '{}')
     from (select state, count(*)::int as n from omega.tasks
           where cell = j.cell and job_id = j.id group by state) s) as task_counts,
    (select coalesce(json_agg(json_build_object('taskIndex', p.index, 'taskId', p.task_id,
              'machine', p.machine, 'placedAt', p.placed_at) order by p.index), '[]')
     from (select tk.index, c.task_id, m.name as machine, c.placed_at
           from omega.tasks tk
           join omega.claims c on c.cell = tk.cell and c.task_id = tk.id
           join omega.machines m on m.cell = c.cell and m.id = c.machine_id
           where tk.cell = j.cell and tk.job_id = j.id and tk.index > $4
           order by tk.index limit $5 + 1) p) as placements,
    (select coalesce(json_agg(json_build_object('reason', r.reason, 'tasks', r.n) order by r.n desc, r.reason), '[]')
     from (select case when $3 then omega.tenant_reason(reason) else reason end as reason, count(*)::int as n
           from (select coalesce(tk.reason, ${UNTOUCHED_REASON}) as reason from omega.tasks tk
                 where tk.cell = j.cell and tk.job_id = j.id and tk.state = 'pending') p
           group by 1 order by 2 desc, 1 limit 20) r) as pending_reasons
  from ${jobs}
  join omega.tenants t on t.id = j.tenant_id
  ${which}`;

/**
 * What detailSql answers for a job nothing has touched since the transaction that created it: all
 * its tasks pending for the reason UNTOUCHED_REASON gives a job of under a minute, no placement.
 * Built from the job's row as omega.submit_jobs returns it (`to_jsonb`, migration 0310), so that
 * an accepted submission is answered without reading its job back; test/db/fresh-job.test.ts holds
 * it equal to jobGet's answer for the same job.
 */
export function freshJobDetail(row: Record<string, unknown>, tenant: string): JobDetail {
  const job = jobOf({
    ...row,
    tenant,
    // Jobs with dependencies come from workflows, which do not go through omega.submit_jobs.
    depends_on: [],
    created_at: new Date(row.created_at as string),
    updated_at: new Date(row.updated_at as string),
  });
  const taskCounts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  taskCounts.pending = job.tasks;
  return {
    ...job,
    taskCounts,
    placements: [],
    next: null,
    pendingReasons: [{ reason: `waiting for the ${job.scheduler} scheduler`, tasks: job.tasks }],
  };
}

const ONE = detailSql("omega.jobs j", "where j.id = $1 and ($2::bigint is null or j.tenant_id = $2)");
// The ids as JSON arrays, not bigint[]: planning this statement costs about 0.9 ms, and
// PostgreSQL plans it anew at every call while it can see how many ids an array holds (a custom
// plan for one id always looked cheaper than the generic plan, made for ten). It cannot see into
// JSON, so custom and generic plans cost the same and the generic one is kept.
const MANY = detailSql(
  `rows from (jsonb_array_elements_text($1::jsonb), jsonb_array_elements_text($2::jsonb)) as s(id, tenant_id)
   join omega.jobs j on j.id = s.id::bigint and j.tenant_id = s.tenant_id::bigint`,
  "",
);

/**
 * The job (owned by `tenantId` when given, which also makes its reasons tenant-neutral) with task
 * counts, one page of placements and pending reasons.
 */
export async function jobGet(
  db: Queryable,
  jobId: number,
  tenantId?: number,
  page: JobPage = {},
): Promise<JobDetail | undefined> {
  const limit = page.limit ?? DEFAULT_PLACEMENTS_PAGE;
  // Named, so each connection plans it once: planning this statement took 0.45 ms, four times its
  // execution, and every accepted submission reads its job back.
  const { rows } = await db.query({
    name: "omega.job_get",
    text: ONE,
    values: [jobId, tenantId ?? null, tenantId !== undefined, page.after ?? -1, limit],
  });
  return rows[0] ? detailOf(rows[0], limit) : undefined;
}

/**
 * Several jobs, each as its tenant sees it (as jobGet with a tenant, first page of placements), in
 * one statement: those that exist and belong to the tenant asking, in the order asked (undefined
 * for the others).
 */
export async function jobsGet(
  db: Queryable,
  jobs: readonly { id: number; tenantId: number }[],
): Promise<(JobDetail | undefined)[]> {
  const { rows } = await db.query({
    name: "omega.jobs_get",
    text: MANY,
    values: [
      JSON.stringify(jobs.map((j) => j.id)),
      JSON.stringify(jobs.map((j) => j.tenantId)),
      true,
      -1,
      DEFAULT_PLACEMENTS_PAGE,
    ],
  });
  const found = new Map(
    rows.map((row) => [`${row.id}:${row.tenant_id}`, detailOf(row, DEFAULT_PLACEMENTS_PAGE)]),
  );
  return jobs.map((j) => found.get(`${j.id}:${j.tenantId}`));
}

function detailOf(row: Record<string, unknown>, limit: number): JobDetail {
  const taskCounts = Object.fromEntries(TASK_STATES.map((s) => [s, 0])) as Record<TaskState, number>;
  Object.assign(taskCounts, row.task_counts);
  const all = (row.placements as (Omit<Placement, "placedAt"> & { placedAt: string })[]).map((p) => ({
    ...p,
    placedAt: new Date(p.placedAt),
  }));
  const placements = all.slice(0, limit);
  const next = all.length > limit ? (placements[placements.length - 1]?.taskIndex ?? null) : null;
  const pendingReasons = row.pending_reasons as JobDetail["pendingReasons"];
  return { ...jobOf(row), taskCounts, placements, next, pendingReasons };
}
