/**
 * The flow scheduler's planner: places a whole batch of jobs at once by min-cost flow (Quincy,
 * with Firmament's equivalence classes), where `batch` and `service` place one task at a time.
 *
 *   source ─(pending)─▶ job ─(quota allows)─▶ task class ─(locality, pack, gpu)─▶ machine class
 *                        │                                                    │ load levels
 *                        ├─(unscheduled: priority, wait)──▶ wait ──────────┐  ▼ (convex cost)
 *                        └─(preemption cost)──────────────▶ preempt ──────▶ sink
 *
 * Resources have four dimensions and a flow has one, so a machine class's capacity is the most
 * tasks of any one class it takes; the decode then places each task the flow routed on a real
 * machine of its class, checking every per-task filter against the plan so far, exactly as the
 * pipeline does. When classes of different shapes share machines, some routed tasks may not fit:
 * the flow is solved again on the new state (a few rounds), and what is still left goes through
 * the ordinary pipeline, which also explains whatever fits nowhere. Jobs with a hard `spreadBy`
 * are planned by the pipeline (their share per zone is a side constraint this graph omits), and so
 * are jobs with a placement vocabulary (ports, inter-job affinity, topology spread).
 */
import { explain } from "../explain.ts";
import type { InFlight } from "../inflight.ts";
import { activeStages, planJob } from "../pipeline.ts";
import { quotaShortfall } from "../quota.ts";
import type { Filter, JobPlan, JobView, MachineView, PipelineConfig, Placement } from "../types.ts";
import { type MachineClass, machineClasses, type TaskClass, taskClasses } from "./classes.ts";
import {
  DEFAULT_FLOW_COSTS,
  type FlowCosts,
  loadCost,
  localityCost,
  machineCost,
  preemptionCost,
  unscheduledCost,
} from "./costs.ts";
import { FlowGraph } from "./min-cost-flow.ts";

/** Solves per plan, at most: each one after the first only places what mixing shapes left over. */
const ROUNDS = 3;
/** Load levels per machine class; tasks beyond the last one share its cost. */
const LEVELS = 8;
/** Task classes per flow (see classGroups). */
const MAX_TASK_CLASSES = 16;

export interface FlowConfig extends PipelineConfig {
  flow?: FlowCosts;
  preemption?: boolean;
}

export interface FlowStats {
  rounds: number;
  /** Largest graph solved. */
  nodes: number;
  arcs: number;
  taskClasses: number;
  machineClasses: number;
  solveMs: number;
  /** Tasks placed by the flow (the rest by the pipeline's mop-up). */
  byFlow: number;
}

/** One job's progress through the rounds. */
interface JobState {
  job: JobView;
  next: number;
  placements: Placement[];
  /** False once the flow chose to leave its remaining tasks waiting rather than preempt. */
  preempt: boolean;
}

/**
 * Plans every job of the batch on `machines`, adding the placements to `inflight` (the snapshot is
 * never mutated). Returns one plan per job, with the same meaning as `planJob`'s: an explanation
 * only when some task fits nowhere on the state the whole plan leaves; gangs all or nothing.
 */
export function planFlow(
  machines: readonly MachineView[],
  jobs: readonly JobView[],
  config: FlowConfig,
  inflight: InFlight,
  random: () => number,
): { plans: Map<number, JobPlan>; stats: FlowStats } {
  const costs = config.flow ?? DEFAULT_FLOW_COSTS;
  const stats: FlowStats = {
    rounds: 0,
    nodes: 0,
    arcs: 0,
    taskClasses: 0,
    machineClasses: 0,
    solveMs: 0,
    byFlow: 0,
  };
  const states = jobs
    // The vocabulary's rules (ports, inter-job affinity, topology spread) are per task and read the
    // plan so far, as a hard spreadBy does: such jobs go through the pipeline after the flow.
    .filter((job) => job.pendingTaskIds.length > 0 && job.constraints.spreadBy === null && !job.vocabulary)
    .map((job): JobState => ({ job, next: 0, placements: [], preempt: true }));
  const stages = activeStages(config);
  const staticFilters = stages.filter((s) => !s.perTask).map((s) => s.filter);
  const taskFilters = stages.filter((s) => s.perTask).map((s) => s.filter);
  for (const group of classGroups(states)) {
    for (let round = 0; round < ROUNDS; round++) {
      const open = group.filter((s) => s.next < s.job.pendingTaskIds.length);
      if (open.length === 0) break;
      stats.rounds++;
      const placed = flowRound(machines, open, config, costs, inflight, staticFilters, taskFilters, stats);
      stats.byFlow += placed;
      if (placed === 0) break;
    }
  }
  const plans = new Map<number, JobPlan>();
  for (const state of states) plans.set(state.job.id, finish(machines, state, config, inflight, random));
  for (const job of jobs) {
    if (!plans.has(job.id)) plans.set(job.id, planJob(machines, job, config, inflight, random));
  }
  return { plans, stats };
}

/**
 * The jobs in groups of at most MAX_TASK_CLASSES task classes, highest priority first: the graph
 * grows as task classes × machine classes, and machine classes multiply with task classes (each
 * adds its slot count to a machine's signature), so a batch of many distinct shapes is solved as a
 * few smaller flows, in priority order, each on the state the previous ones left.
 */
function classGroups(states: JobState[]): JobState[][] {
  const byClass = taskClasses(
    states.map((s) => s.job),
    () => 1,
  );
  const stateOf = new Map(states.map((s) => [s.job.id, s]));
  const groups: JobState[][] = [];
  for (let i = 0; i < byClass.length; i += MAX_TASK_CLASSES) {
    groups.push(
      byClass
        .slice(i, i + MAX_TASK_CLASSES)
        .flatMap((tc) => tc.jobs.map((j) => stateOf.get(j.id) as JobState)),
    );
  }
  return groups;
}

function flowRound(
  machines: readonly MachineView[],
  open: JobState[],
  config: FlowConfig,
  costs: FlowCosts,
  inflight: InFlight,
  staticFilters: readonly Filter[],
  taskFilters: readonly Filter[],
  stats: FlowStats,
): number {
  const stateOf = new Map(open.map((s) => [s.job.id, s]));
  const remaining = (job: JobView) => {
    const s = stateOf.get(job.id) as JobState;
    return job.pendingTaskIds.length - s.next;
  };
  const tcs = taskClasses(
    open.map((s) => s.job),
    remaining,
  );
  const mcs = machineClasses(machines, tcs, staticFilters, inflight);

  const g = new FlowGraph();
  const source = g.addNode();
  const sink = g.addNode();
  const waiting = g.addNode();
  const preempting = g.addNode();
  g.addArc(waiting, sink, Number.POSITIVE_INFINITY, 0);
  g.addArc(preempting, sink, Number.POSITIVE_INFINITY, 0);
  const tcNodes = tcs.map(() => g.addNode());
  const jobArcs = new Map<number, { place: number; wait: number; preempt: number | null }>();
  tcs.forEach((tc, i) => {
    for (const job of tc.jobs) {
      const node = g.addNode();
      g.addArc(source, node, remaining(job), 0);
      const place = g.addArc(
        node,
        tcNodes[i] as number,
        Math.min(remaining(job), quotaAllows(job, inflight)),
        0,
      );
      const wait = g.addArc(node, waiting, Number.POSITIVE_INFINITY, unscheduledCost(costs, job));
      const mayPreempt = config.preemption === true && job.priority > 0;
      const preempt = mayPreempt
        ? g.addArc(node, preempting, Number.POSITIVE_INFINITY, preemptionCost(costs))
        : null;
      jobArcs.set(job.id, { place, wait, preempt });
    }
  });
  const classArcs = mcs.map((mc) => {
    const node = g.addNode();
    addLoadLevels(g, node, sink, mc, costs);
    return tcs.map((_, i) => {
      const slots = mc.slots[i] as number;
      if (slots === 0) return -1;
      const request = (tcs[i] as TaskClass).jobs[0]?.request.gpu ?? 0;
      const cost =
        localityCost(costs, mc.local[i] as boolean) + machineCost(costs, mc.load, mc.gpus, request);
      return g.addArc(tcNodes[i] as number, node, slots * mc.machines.length, cost);
    });
  });

  const started = performance.now();
  g.minCostMaxFlow(source, sink);
  stats.solveMs += performance.now() - started;
  stats.nodes = Math.max(stats.nodes, g.nodes);
  stats.arcs = Math.max(stats.arcs, g.arcs);
  stats.taskClasses = Math.max(stats.taskClasses, tcs.length);
  stats.machineClasses = Math.max(stats.machineClasses, mcs.length);

  let placed = 0;
  tcs.forEach((tc, i) => {
    // How many tasks of each job the flow placed, served in the class's order.
    const quota = tc.jobs.map((job) => g.flowOn((jobArcs.get(job.id) as { place: number }).place));
    mcs.forEach((mc, c) => {
      const arc = (classArcs[c] as number[])[i] as number;
      if (arc === -1) return;
      const routed = g.flowOn(arc);
      if (routed > 0) placed += decodeClass(tc, quota, mc, routed, stateOf, inflight, taskFilters);
    });
  });
  for (const [jobId, arcs] of jobArcs) {
    const s = stateOf.get(jobId) as JobState;
    // Routed to wait rather than to preemption: waiting costs less than preempting, for now.
    if (g.flowOn(arcs.wait) > 0 && (arcs.preempt === null || g.flowOn(arcs.preempt) === 0)) s.preempt = false;
    else if (arcs.preempt !== null && g.flowOn(arcs.preempt) > 0) s.preempt = true;
  }
  return placed;
}

/** Convex load cost: one arc per level, each as wide as the class, the last one for the rest. */
function addLoadLevels(g: FlowGraph, node: number, sink: number, mc: MachineClass, costs: FlowCosts): void {
  const width = mc.machines.length;
  const last = Math.min(mc.levels, LEVELS);
  for (let k = 1; k <= last; k++) {
    const levels = k < last ? 1 : mc.levels - last + 1;
    g.addArc(node, sink, levels * width, loadCost(costs, mc.load, k, mc.levels));
  }
}

/** Tasks of the job its quota still allows (all of them without a quota). */
function quotaAllows(job: JobView, inflight: InFlight): number {
  if (!job.quota) return Number.POSITIVE_INFINITY;
  const charged = inflight.quotaUsed(job.quota.key);
  let n = Number.POSITIVE_INFINITY;
  for (const d of ["cpu", "memory", "gpu", "disk"] as const) {
    if (job.request[d] > 0) n = Math.min(n, Math.floor((job.quota.free[d] - charged[d]) / job.request[d]));
  }
  return Math.max(0, n);
}

/**
 * Puts `routed` tasks of the class on machines of `mc`, round-robin (so a class's tasks spread as
 * its load levels say), each checked by every per-task filter and the quota on the plan so far.
 * `quota[j]` is what the flow gave the class's j-th job; it is used up as tasks land.
 */
function decodeClass(
  tc: TaskClass,
  quota: number[],
  mc: MachineClass,
  routed: number,
  stateOf: Map<number, JobState>,
  inflight: InFlight,
  taskFilters: readonly Filter[],
): number {
  let placed = 0;
  let j = 0;
  const n = mc.machines.length;
  while (placed < routed && j < tc.jobs.length) {
    const job = tc.jobs[j] as JobView;
    const s = stateOf.get(job.id) as JobState;
    if ((quota[j] as number) <= 0 || s.next >= job.pendingTaskIds.length || quotaShortfall(job, inflight)) {
      j++;
      continue;
    }
    let machine: MachineView | null = null;
    for (let tried = 0; tried < n && !machine; tried++) {
      const m = mc.machines[mc.cursor] as MachineView;
      mc.cursor = (mc.cursor + 1) % n;
      if (taskFilters.every((f) => f(m, job, inflight).ok)) machine = m;
    }
    if (!machine) break;
    const taskId = job.pendingTaskIds[s.next++] as number;
    s.placements.push({ taskId, machineId: machine.id, machineVersion: machine.version });
    inflight.add(job, machine.id);
    quota[j] = (quota[j] as number) - 1;
    placed++;
  }
  return placed;
}

/**
 * The job's plan: the flow's placements, then the pipeline for whatever is left (it places what
 * mixing shapes left room for, and explains what fits nowhere), then the gang rule.
 */
function finish(
  machines: readonly MachineView[],
  state: JobState,
  config: FlowConfig,
  inflight: InFlight,
  random: () => number,
): JobPlan {
  const { job } = state;
  const pending = job.pendingTaskIds.length;
  const placements = state.placements;
  let explanation = null;
  if (state.next < pending) {
    const rest: JobView = { ...job, pendingTaskIds: job.pendingTaskIds.slice(state.next), gangMin: null };
    const more = planJob(machines, rest, config, inflight, random);
    placements.push(...more.placements);
    explanation = more.explanation;
  }
  let alreadyPlaced = 0;
  for (const n of job.placedPerMachine.values()) alreadyPlaced += n;
  if (job.gangMin !== null && placements.length < Math.max(0, job.gangMin - alreadyPlaced)) {
    for (const p of placements) inflight.remove(job, p.machineId);
    const filters = activeStages(config).map((s) => s.filter);
    return {
      placements: [],
      unplaced: pending,
      explanation: explanation ?? explain(machines, job, inflight, filters),
      preempt: state.preempt,
    };
  }
  const unplaced = pending - placements.length;
  return { placements, unplaced, explanation: unplaced > 0 ? explanation : null, preempt: state.preempt };
}
