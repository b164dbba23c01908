import type { Queryable } from "../db/queries/queryable.ts";
import { mulberry32 } from "../placement/random.ts";

export interface JobShape {
  tasks: number;
  cpu: number;
  memory: number;
}

/**
 * A C1M-shaped workload, deterministic from its seed: jobs of 1–maxTasks tasks (log-uniform, so
 * most are small and most tasks are in big jobs), small requests (100–1000m cpu, 128–2048 MiB).
 */
export function generateJobs(totalTasks: number, seed: number, maxTasks = 1000): JobShape[] {
  const random = mulberry32(seed);
  const jobs: JobShape[] = [];
  let left = totalTasks;
  while (left > 0) {
    const tasks = Math.min(left, Math.max(1, Math.round(Math.exp(random() * Math.log(maxTasks)))));
    jobs.push({
      tasks,
      cpu: 100 * (1 + Math.floor(random() * 10)),
      memory: 128 * (1 + Math.floor(random() * 16)),
    });
    left -= tasks;
  }
  return jobs;
}

export interface SubmitOptions {
  cell: string;
  tenant: string;
  scheduler: string;
  /** Extra job spec fields, e.g. a gang. */
  extra?: (job: JobShape) => Record<string, unknown>;
}

/** The job specs of `jobs`, as omega.submit_job takes them. */
export function jobSpecs(jobs: readonly JobShape[], options: SubmitOptions): Record<string, unknown>[] {
  return jobs.map((job) => ({
    cell: options.cell,
    tasks: job.tasks,
    scheduler: options.scheduler,
    resources: { cpu: job.cpu, memory: job.memory },
    ...options.extra?.(job),
  }));
}

/**
 * Submits the jobs through omega.submit_job (the same checks and wake-ups as HTTP) in one
 * statement, so in one transaction and one round trip; on a pool it commits at once.
 */
export async function submitJobs(
  db: Queryable,
  jobs: readonly JobShape[],
  options: SubmitOptions,
): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>(
    "select omega.submit_job($1, spec) as id from jsonb_array_elements($2::jsonb) with ordinality as s(spec, n) order by n",
    [options.tenant, JSON.stringify(jobSpecs(jobs, options))],
  );
  return rows.map((r) => r.id);
}
