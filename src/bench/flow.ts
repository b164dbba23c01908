import { type FlowStats, planFlow } from "../placement/flow/plan-flow.ts";
import { InFlight } from "../placement/inflight.ts";
import { planJob } from "../placement/pipeline.ts";
import { batchProfile, flowProfile, type SchedulerProfile, serviceProfile } from "../placement/profiles.ts";
import { mulberry32 } from "../placement/random.ts";
import type { JobView, MachineView } from "../placement/types.ts";
import { benchDatabases } from "./database.ts";
import { describeMachine, machineLine } from "./machine-info.ts";
import { qualityJobs, qualityMachines } from "./quality-workload.ts";
import { printTable, writeResults } from "./report.ts";
import { startBenchServer } from "./server.ts";
import { median, round } from "./stats.ts";

export interface FlowBenchOptions {
  machines: number;
  /** Pending task counts, each placed as one batch. */
  tasks: number[];
  repeat: number;
  seed: number;
}

/**
 * Scenario `flow`: how long the min-cost-flow planner takes to place a batch of pending tasks at
 * once on a big cell (Firmament places a 12,500-machine trace in under a second), beside the time
 * `batch` and `service` take to plan the same tasks job by job. Pure planning on the same in-memory
 * snapshot, no database: what the solver costs, not the commit (the throughput scenario's
 * subject). Machines start a third used on average, so their free room differs as in a live cell.
 */
export async function runFlowBench(options: FlowBenchOptions): Promise<void> {
  const started = performance.now();
  const server = await startBenchServer();
  const databases = benchDatabases(server.url);
  let machine: Awaited<ReturnType<typeof describeMachine>>;
  const db = await databases.create("flow_bench");
  try {
    machine = await describeMachine(db.pool, server.kind);
  } finally {
    await db.drop();
    await databases.close();
    await server.stop();
  }
  console.log(machineLine(machine));
  const cell = snapshotOf(options.machines, options.seed);
  const rows: Record<string, number | string>[] = [];
  for (const tasks of options.tasks) {
    const jobs = jobViews(cell, options.seed, tasks);
    const times: Record<string, number[]> = { flow: [], batch: [], service: [] };
    let stats: FlowStats | undefined;
    let placed: Record<string, number> = {};
    for (let r = 0; r < options.repeat; r++) {
      const flow = timed(() => planFlow(cell, jobs, flowProfile, new InFlight(), mulberry32(r + 1)));
      times.flow?.push(flow.ms);
      stats = flow.result.stats;
      placed = { flow: count(flow.result.plans.values()) };
      for (const profile of [batchProfile, serviceProfile]) {
        const greedy = timed(() => planEach(cell, jobs, profile, r + 1));
        times[profile.name]?.push(greedy.ms);
        placed[profile.name] = greedy.result;
      }
    }
    rows.push({
      machines: options.machines,
      tasks,
      jobs: jobs.length,
      flowMs: round(median(times.flow ?? []), 1),
      flowPlaced: placed.flow ?? 0,
      solveMs: round((stats?.solveMs ?? 0) / 1, 1),
      rounds: stats?.rounds ?? 0,
      taskClasses: stats?.taskClasses ?? 0,
      machineClasses: stats?.machineClasses ?? 0,
      graphArcs: stats?.arcs ?? 0,
      byFlow: stats?.byFlow ?? 0,
      batchMs: round(median(times.batch ?? []), 1),
      batchPlaced: placed.batch ?? 0,
      serviceMs: round(median(times.service ?? []), 1),
      servicePlaced: placed.service ?? 0,
    });
  }
  printTable(`flow: planning time of one batch of pending tasks (median of ${options.repeat})`, rows);
  for (const r of rows) {
    const verdict = (r.flowMs as number) < 1000 ? "under" : "over";
    console.log(
      `${r.tasks} tasks on ${r.machines} machines: flow placed ${r.flowPlaced} in ${r.flowMs} ms, ${verdict} Firmament's one second`,
    );
  }
  const file = await writeResults("flow", {
    machine,
    options,
    wallSeconds: (performance.now() - started) / 1000,
    rows,
  });
  console.log(`wrote ${file}`);
}

function timed<T>(fn: () => T): { result: T; ms: number } {
  const t0 = performance.now();
  const result = fn();
  return { result, ms: performance.now() - t0 };
}

function count(plans: Iterable<{ placements: unknown[] }>): number {
  let n = 0;
  for (const p of plans) n += p.placements.length;
  return n;
}

function planEach(machines: MachineView[], jobs: JobView[], profile: SchedulerProfile, seed: number): number {
  const inflight = new InFlight();
  const random = mulberry32(seed);
  let n = 0;
  for (const job of jobs) n += planJob(machines, job, profile, inflight, random).placements.length;
  return n;
}

/** The scenario's cell as a scheduler's snapshot, each machine already 0–2/3 used. */
function snapshotOf(count: number, seed: number): MachineView[] {
  const random = mulberry32(seed + 7);
  return qualityMachines(count).map((m, i) => {
    const used = Math.floor(random() * 3) / 3;
    return {
      id: i + 1,
      name: m.name,
      state: "up",
      capacity: { cpu: m.cpu, memory: m.memory, gpu: m.gpu, disk: 0 },
      used: { cpu: Math.round(m.cpu * used), memory: Math.round(m.memory * used), gpu: 0, disk: 0 },
      tasks: 0,
      maxTasks: 110,
      labels: m.labels,
      taints: [],
      version: 1,
    };
  });
}

function jobViews(machines: MachineView[], seed: number, tasks: number): JobView[] {
  const shapes = qualityMachines(machines.length);
  let taskId = 0;
  return qualityJobs(shapes, seed, { tasks }).map(
    (j, i): JobView => ({
      id: i + 1,
      priority: j.priority,
      request: { cpu: j.cpu, memory: j.memory, gpu: j.gpu, disk: 0 },
      constraints: {
        selector: j.gpu > 0 ? { accelerator: "gpu" } : ({} as Record<string, string>),
        affinity: [],
        tolerations: [],
        maxPerMachine: null,
        spreadBy: null,
      },
      taskCount: j.tasks,
      gangMin: null,
      quota: null,
      pendingTaskIds: Array.from({ length: j.tasks }, () => ++taskId),
      placedPerMachine: new Map(),
      locality: j.locality,
      waitSeconds: 0,
    }),
  );
}
