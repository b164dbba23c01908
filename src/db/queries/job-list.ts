import { JOB_COLUMNS, type JobSummary, jobOf } from "./job-row.ts";
import type { Queryable } from "./queryable.ts";

export interface JobListFilter {
  /** Only this tenant's jobs (a tenant token always sets it). */
  tenantId?: number;
  tenant?: string;
  state?: string;
  cell?: string;
  /** Cursor: jobs with a larger id. */
  after?: number;
  limit: number;
}

const SQL = `
  select ${JOB_COLUMNS}
  from omega.jobs j
  join omega.tenants t on t.id = j.tenant_id
  where ($1::bigint is null or j.tenant_id = $1)
    and ($2::text is null or t.name = $2)
    and ($3::text is null or j.state = $3)
    and ($4::text is null or j.cell = $4)
    and j.id > $5
  order by j.id
  limit $6`;

/** Jobs in id order, one page; `next` is the cursor of the following page, null on the last. */
export async function jobList(
  db: Queryable,
  filter: JobListFilter,
): Promise<{ jobs: JobSummary[]; next: number | null }> {
  const { rows } = await db.query(SQL, [
    filter.tenantId ?? null,
    filter.tenant ?? null,
    filter.state ?? null,
    filter.cell ?? null,
    filter.after ?? 0,
    filter.limit + 1,
  ]);
  const jobs = rows.slice(0, filter.limit).map(jobOf);
  const next = rows.length > filter.limit ? (jobs[jobs.length - 1]?.id ?? null) : null;
  return { jobs, next };
}
