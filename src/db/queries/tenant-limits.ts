import type { Queryable } from "./queryable.ts";

/** What the admin lets a tenant ask for (issue 17): see README "Tenant rights and limits". */
export interface TenantLimits {
  tenant: string;
  /** The highest priority its jobs may have. (Default: 199, the top of batch.) */
  maxPriority: number;
  /** (Default: 10,000.) */
  maxTasksPerJob: number;
  /** Tasks of its jobs waiting to be placed, over every cell. (Default: 100,000.) */
  maxPendingTasks: number;
  /** Submissions per minute over HTTP, a token bucket. (Default: 600.) */
  jobsPerMinute: number;
  /** The least a task may request. (Default: cpu 10 millicores, memory 0.) */
  minTaskRequest: { cpu: number; memory: number };
}

const COLUMNS = `name as tenant, max_priority as "maxPriority", max_tasks_per_job as "maxTasksPerJob",
  max_pending_tasks as "maxPendingTasks", jobs_per_minute as "jobsPerMinute",
  json_build_object('cpu', min_task_cpu, 'memory', min_task_memory) as "minTaskRequest"`;

/** The tenant's limits; undefined when there is no such tenant. */
export async function tenantLimitsGet(db: Queryable, tenant: string): Promise<TenantLimits | undefined> {
  const { rows } = await db.query<TenantLimits>(`select ${COLUMNS} from omega.tenants where name = $1`, [
    tenant,
  ]);
  return rows[0];
}

/** omega.set_tenant_limits: changes the fields given (validated there), returns them all. */
export async function tenantLimitsSet(db: Queryable, tenant: string, limits: unknown): Promise<TenantLimits> {
  const { rows } = await db.query<TenantLimits>(
    `select ${COLUMNS} from omega.set_tenant_limits($1, $2::jsonb)`,
    [tenant, JSON.stringify(limits)],
  );
  const row = rows[0];
  if (!row) throw new Error("omega.set_tenant_limits returned no row");
  return row;
}
