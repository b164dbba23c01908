import { DIMENSIONS, type Dimension } from "../domain/resources.ts";
import type { InFlightView, JobView } from "./types.ts";

/**
 * The first dimension in which `tasks` more of the job would overrun what is free of its quota
 * (the plan's earlier charges included), or null when they fit or no quota applies.
 */
export function quotaShortfall(job: JobView, inflight: InFlightView, tasks = 1): Dimension | null {
  if (!job.quota) return null;
  const charged = inflight.quotaUsed(job.quota.key);
  for (const d of DIMENSIONS) {
    if (charged[d] + tasks * job.request[d] > job.quota.free[d]) return d;
  }
  return null;
}
