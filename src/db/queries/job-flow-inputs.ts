import type { JobView } from "../../placement/types.ts";
import type { Queryable } from "./queryable.ts";

/**
 * What the flow scheduler reads beside omega.lease_work's rows (omega.flow_inputs): each job's
 * data locality and how long it has waited. One round trip per lease, for the flow scheduler only.
 */
export async function withFlowInputs(db: Queryable, cell: string, jobs: JobView[]): Promise<JobView[]> {
  if (jobs.length === 0) return jobs;
  const { rows } = await db.query<{ job_id: number; locality: JobView["locality"]; wait_seconds: number }>(
    "select job_id, locality, wait_seconds from omega.flow_inputs($1, $2)",
    [cell, jobs.map((j) => j.id)],
  );
  const byJob = new Map(rows.map((r) => [Number(r.job_id), r]));
  return jobs.map((job) => {
    const input = byJob.get(job.id);
    return input ? { ...job, locality: input.locality, waitSeconds: input.wait_seconds } : job;
  });
}
