import type { Queryable } from "./queryable.ts";

/** A periodic job, as GET /v1/periodic shows it (from omega.periodic_jobs). */
export interface PeriodicJob {
  id: number;
  name: string;
  cell: string;
  tenant: string;
  schedule: string;
  timeZone: string;
  concurrencyPolicy: string;
  startingDeadlineSeconds: number;
  suspended: boolean;
  nextRunAt: Date;
  lastRunAt: Date | null;
  lastJob: { id: number; state: string | null } | null;
  launches: number;
  job: Record<string, unknown>;
  createdAt: Date;
}

const SQL = `
  select p.* from omega.periodic_jobs p
  join omega.tenants t on t.name = p.tenant
  where ($1::bigint is null or p.id = $1) and ($2::bigint is null or t.id = $2)
  order by p.id limit 1000`;

function periodicOf(r: Record<string, unknown>): PeriodicJob {
  return {
    id: Number(r.id),
    name: String(r.name),
    cell: String(r.cell),
    tenant: String(r.tenant),
    schedule: String(r.schedule),
    timeZone: String(r.time_zone),
    concurrencyPolicy: String(r.concurrency_policy),
    startingDeadlineSeconds: Number(r.starting_deadline_seconds),
    suspended: r.suspended === true,
    nextRunAt: r.next_run_at as Date,
    lastRunAt: (r.last_run_at as Date | null) ?? null,
    lastJob:
      r.last_job_id === null
        ? null
        : { id: Number(r.last_job_id), state: (r.last_job_state as string) ?? null },
    launches: Number(r.launches),
    job: r.job_spec as Record<string, unknown>,
    createdAt: r.created_at as Date,
  };
}

/** Periodic jobs (of `tenantId` when given), or the one with `id`. */
export async function periodicList(db: Queryable, tenantId?: number, id?: number): Promise<PeriodicJob[]> {
  const { rows } = await db.query(SQL, [id ?? null, tenantId ?? null]);
  return rows.map(periodicOf);
}
