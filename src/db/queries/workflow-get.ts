import type { Queryable } from "./queryable.ts";

export interface WorkflowJob {
  id: number;
  state: string;
  pendingTasks: number;
  /** Why it ended when its tasks do not say (`dependency`), or why it waits. */
  reason: string | null;
  dependsOn: { job: string | null; id: number; condition: string; state: string }[];
}

export interface Workflow {
  id: number;
  name: string;
  cell: string;
  tenant: string;
  /** succeeded, failed or cancelled once every job has ended (any cancelled, else any failed); else running or pending. */
  state: string;
  jobs: Record<string, WorkflowJob>;
  createdAt: Date;
}

// One statement over omega.workflow_jobs: the DAG as one snapshot.
const SQL = `
  select w.id, w.name, w.cell, t.name as tenant, w.created_at,
    (select coalesce(json_agg(json_build_object('step', wj.step, 'id', wj.job_id, 'state', wj.state,
              'pendingTasks', wj.pending_count,
              'reason', coalesce(wj.reason, case when wj.state = 'pending' then omega.dependency_reason(wj.cell, wj.job_id) end),
              'dependsOn', wj.depends_on) order by wj.job_id), '[]')
     from omega.workflow_jobs wj where wj.workflow_id = w.id and wj.cell = w.cell) as jobs
  from omega.workflows w join omega.tenants t on t.id = w.tenant_id
  where w.id = $1 and ($2::bigint is null or w.tenant_id = $2)`;

function stateOf(states: string[]): string {
  const ended = states.every((s) => s === "succeeded" || s === "failed" || s === "cancelled");
  if (ended) {
    if (states.includes("cancelled")) return "cancelled";
    return states.includes("failed") ? "failed" : "succeeded";
  }
  return states.every((s) => s === "pending") ? "pending" : "running";
}

/** A workflow (owned by `tenantId` when given) with each job's state and dependencies, by name. */
export async function workflowGet(
  db: Queryable,
  id: number,
  tenantId?: number,
): Promise<Workflow | undefined> {
  const { rows } = await db.query(SQL, [id, tenantId ?? null]);
  const row = rows[0];
  if (!row) return undefined;
  const list = row.jobs as (Omit<WorkflowJob, "dependsOn"> & {
    step: string;
    dependsOn: { job: number; step: string | null; condition: string; state: string }[];
  })[];
  const jobs = Object.fromEntries(
    list.map(({ step, dependsOn, ...job }) => [
      step,
      {
        ...job,
        dependsOn: dependsOn.map((d) => ({ job: d.step, id: d.job, condition: d.condition, state: d.state })),
      },
    ]),
  );
  return {
    id: Number(row.id),
    name: String(row.name),
    cell: String(row.cell),
    tenant: String(row.tenant),
    state: stateOf(list.map((j) => j.state)),
    jobs,
    createdAt: row.created_at as Date,
  };
}
