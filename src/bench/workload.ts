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
