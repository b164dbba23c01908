import { mulberry32 } from "../placement/random.ts";

/**
 * The workload of the `flow` and `quality` scenarios, deterministic from its seed: a cell where one
 * machine in ten carries 8 GPUs, racks of 20 machines in three zones, and jobs of a few common
 * shapes (as in Google's traces, most tasks share a handful of sizes), one in ten asking for GPUs,
 * three in ten naming the two racks that hold their data (`locality`), asking `demand` × the
 * cell's cpu in all (above 1: the cell saturates and what is left shows).
 */

export interface QualityMachine {
  name: string;
  cpu: number;
  memory: number;
  gpu: number;
  labels: Record<string, string>;
}

export interface QualityJob {
  tasks: number;
  priority: number;
  cpu: number;
  memory: number;
  gpu: number;
  locality: { label: string; values: string[] } | null;
}

const RACK_SIZE = 20;
const SHAPES = [
  { cpu: 500, memory: 1_024 },
  { cpu: 1_000, memory: 2_048 },
  { cpu: 1_000, memory: 4_096 },
  { cpu: 2_000, memory: 4_096 },
  { cpu: 2_000, memory: 8_192 },
  { cpu: 4_000, memory: 16_384 },
];

export function qualityMachines(count: number): QualityMachine[] {
  return Array.from({ length: count }, (_, i) => {
    const gpu = i % 10 === 0;
    const big = i % 3 === 0;
    return {
      name: `m${String(i).padStart(5, "0")}`,
      cpu: gpu || big ? 64_000 : 32_000,
      memory: gpu || big ? 262_144 : 131_072,
      gpu: gpu ? 8 : 0,
      labels: {
        zone: `z${Math.floor(i / RACK_SIZE) % 3}`,
        rack: `r${Math.floor(i / RACK_SIZE)}`,
        ...(gpu ? { accelerator: "gpu" } : {}),
      },
    };
  });
}

/** Jobs until their tasks ask `demand` × the machines' cpu, or exactly `tasks` tasks if given. */
export function qualityJobs(
  machines: readonly QualityMachine[],
  seed: number,
  target: { demand?: number; tasks?: number },
): QualityJob[] {
  const random = mulberry32(seed);
  const racks = Math.max(1, Math.ceil(machines.length / RACK_SIZE));
  const cpu = machines.reduce((n, m) => n + m.cpu, 0);
  const jobs: QualityJob[] = [];
  let askedCpu = 0;
  let tasksLeft = target.tasks ?? Number.POSITIVE_INFINITY;
  while (tasksLeft > 0 && (target.tasks !== undefined || askedCpu < (target.demand ?? 1) * cpu)) {
    const tasks = Math.min(tasksLeft, Math.max(1, Math.round(Math.exp(random() * Math.log(50)))));
    const gpuJob = random() < 0.1;
    const shape = SHAPES[Math.floor(random() * SHAPES.length)] as (typeof SHAPES)[number];
    const rack = Math.floor(random() * racks);
    const local = random() < 0.3;
    const job: QualityJob = {
      tasks,
      priority: 100 + Math.floor(random() * 100),
      cpu: gpuJob ? 8_000 : shape.cpu,
      memory: gpuJob ? 32_768 : shape.memory,
      gpu: gpuJob ? ([1, 2, 4][Math.floor(random() * 3)] ?? 1) : 0,
      locality: local ? { label: "rack", values: [`r${rack}`, `r${(rack + 1) % racks}`] } : null,
    };
    jobs.push(job);
    askedCpu += tasks * job.cpu;
    tasksLeft -= tasks;
  }
  return jobs;
}

/** The job spec omega.submit_job takes for `job`, on `scheduler`. */
export function qualitySpec(job: QualityJob, cell: string, scheduler: string): Record<string, unknown> {
  return {
    cell,
    scheduler,
    tasks: job.tasks,
    priority: job.priority,
    resources: { cpu: job.cpu, memory: job.memory, gpu: job.gpu },
    ...(job.gpu > 0
      ? {
          constraints: {
            selector: { accelerator: "gpu" },
          },
        }
      : {}),
    ...(job.locality ? { locality: job.locality } : {}),
  };
}
