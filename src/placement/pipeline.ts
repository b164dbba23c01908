/**
 * The placement pipeline: which machine each pending task of a job goes to.
 *
 *   machines ──seeded shuffle, drawn lazily──▶ ring (static filters once per machine per job)
 *   per task: ring from its cursor ──per-task filters──▶ sample of `sampleSize`
 *             ──weighted scorers──▶ best ──▶ placement + overlay
 *   no machine for a task: stop (the rest are identical) ──▶ explanation over every machine
 */

import type { Dimension } from "../domain/resources.ts";
import { CandidateRing } from "./candidates.ts";
import { explain } from "./explain.ts";
import { affinity } from "./filters/affinity.ts";
import { capacity } from "./filters/capacity.ts";
import { machineState } from "./filters/machine-state.ts";
import { machineTasks } from "./filters/machine-tasks.ts";
import { maxPerMachine } from "./filters/max-per-machine.ts";
import { selector } from "./filters/selector.ts";
import { tolerations } from "./filters/tolerations.ts";
import type { InFlight } from "./inflight.ts";
import { quotaShortfall } from "./quota.ts";
import { balancedAllocation } from "./scorers/balanced-allocation.ts";
import { leastAllocated } from "./scorers/least-allocated.ts";
import { mostAllocated } from "./scorers/most-allocated.ts";
import { nodeAffinity } from "./scorers/node-affinity.ts";
import { spread } from "./scorers/spread.ts";
import { SpreadTally } from "./scorers/spread-tally.ts";
import { taintToleration } from "./scorers/taint-toleration.ts";
import { topologySpreadScore } from "./scorers/topology-spread.ts";
import { spreadShareFilter } from "./spread-share.ts";
import type {
  Explanation,
  Filter,
  FilterName,
  InFlightView,
  JobPlan,
  JobView,
  MachineView,
  PipelineConfig,
  Placement,
  ScoreContext,
  Scorer,
  ScorerName,
} from "./types.ts";
import { type TopologyCounts, vocabularyStages } from "./vocabulary.ts";

export interface Stage {
  name: FilterName;
  filter: Filter;
  /**
   * Depends on the plan so far, so it runs for every task sampled. Otherwise it depends on (job,
   * machine) only and runs once per machine per job, the first time the job's walk reaches it.
   */
  perTask: boolean;
  /** Safety: runs whatever the profile lists, as the commit would reject what it let through anyway. */
  alwaysOn: boolean;
}

/** Every filter, in the order it runs (and in which the explanation names a machine's first reason). */
export const STAGES: readonly Stage[] = [
  // Safety, always on. One comparison, ruling out draining and down machines before anything costlier.
  { name: "machineState", filter: machineState, perTask: false, alwaysOn: true },
  // A few exact label lookups; usually the most selective constraint (accelerator=h100).
  { name: "selector", filter: selector, perTask: false, alwaysOn: false },
  // A loop over the machine's taints, and most machines have none.
  { name: "tolerations", filter: tolerations, perTask: false, alwaysOn: false },
  // The costliest static check (an array scan per term); runs on what the cheaper ones left.
  { name: "affinity", filter: affinity, perTask: false, alwaysOn: false },
  // Safety, always on. Per task, as the plan fills machines; first of those, as it rules out the most.
  { name: "capacity", filter: capacity, perTask: true, alwaysOn: true },
  // Safety, always on. Per task (the plan adds to the machine's count); one addition and a compare.
  { name: "machineTasks", filter: machineTasks, perTask: true, alwaysOn: true },
  // Per task too (the job's count on a machine grows with the plan); only jobs that set a cap.
  { name: "maxPerMachine", filter: maxPerMachine, perTask: true, alwaysOn: false },
];

export const SCORERS: Readonly<Record<ScorerName, Scorer>> = {
  leastAllocated,
  mostAllocated,
  balancedAllocation,
  spread,
  taintToleration,
  nodeAffinity,
};

/** The stages a profile runs: those it names, plus the always-on safety checks. */
export function activeStages(config: PipelineConfig): readonly Stage[] {
  return STAGES.filter((s) => s.alwaysOn || config.filters.includes(s.name));
}

/** Machines scored per task: `sampleSize`, or `sampleFraction` of the cell's machines if more (at least 1). */
export function effectiveSampleSize(config: PipelineConfig, machines: number): number {
  return Math.max(1, config.sampleSize, Math.ceil((config.sampleFraction ?? 0) * machines));
}

function passesAll(
  filters: readonly Filter[],
  machine: MachineView,
  job: JobView,
  inflight: InFlightView,
): boolean {
  for (const filter of filters) {
    if (!filter(machine, job, inflight).ok) return false;
  }
  return true;
}

/**
 * Places the job's pending tasks on `machines` (a snapshot of one cell), adding each placement to
 * `inflight`; the snapshot is never mutated. `random` drives the candidate shuffle: seed it (see
 * random.ts) and the same snapshot, job, config and overlay give the same plan.
 *
 * Stops at the first task that finds no machine (the rest are identical), explaining why. A gang
 * job that cannot reach `gangMin` placed tasks gets no placements at all, and the overlay is
 * rolled back.
 */
export function planJob(
  machines: readonly MachineView[],
  job: JobView,
  config: PipelineConfig,
  inflight: InFlight,
  random: () => number,
): JobPlan {
  const pending = job.pendingTaskIds.length;
  if (pending === 0) return { placements: [], unplaced: 0, explanation: null };
  const stages = activeStages(config);
  const { placements, filters, quotaShort } = placeTasks(machines, job, config, inflight, stages, random);
  const gangOk = gangSatisfied(job, placements.length);
  // Explained before any rollback: the gang failed because of the state its own tasks left.
  const failed = placements.length < pending || !gangOk;
  const explanation = !failed
    ? null
    : quotaShort
      ? quotaExplanation(machines.length, job, inflight, quotaShort)
      : explain(machines, job, inflight, filters);
  if (!gangOk) {
    for (const p of placements) inflight.remove(job, p.machineId);
    return { placements: [], unplaced: pending, explanation };
  }
  return { placements, unplaced: pending - placements.length, explanation };
}

function quotaExplanation(
  machines: number,
  job: JobView,
  inflight: InFlight,
  dimension: Dimension,
): Explanation {
  const free = (job.quota?.free[dimension] ?? 0) - inflight.quotaUsed(job.quota?.key ?? "")[dimension];
  return {
    machines,
    feasible: 0,
    rejected: {},
    quota: { band: job.quota?.band ?? "", dimension, free, request: job.request[dimension] },
  };
}

/** A gang ends with zero or at least `gangMin` tasks placed, counting those already holding claims. */
function gangSatisfied(job: JobView, placing: number): boolean {
  if (job.gangMin === null) return true;
  let alreadyPlaced = 0;
  for (const n of job.placedPerMachine.values()) alreadyPlaced += n;
  return placing >= Math.max(0, job.gangMin - alreadyPlaced);
}

interface PlacedTasks {
  placements: Placement[];
  /** Every filter the job ran, its own spread share included: what an explanation must replay. */
  filters: Filter[];
  /** The quota dimension that stopped the job, if its quota (not machines) ran out. */
  quotaShort: Dimension | null;
}

function placeTasks(
  machines: readonly MachineView[],
  job: JobView,
  config: PipelineConfig,
  inflight: InFlight,
  stages: readonly Stage[],
  random: () => number,
): PlacedTasks {
  const scoresSpread = config.scorers.some((s) => s.name === "spread" && s.weight !== 0);
  const label = job.constraints.spreadBy ?? (scoresSpread ? (config.spreadBy ?? null) : null);
  const tally = label === null ? null : new SpreadTally(label, machines, job, inflight);
  const staticFilters = stages.filter((s) => !s.perTask).map((s) => s.filter);
  const taskFilters = stages.filter((s) => s.perTask).map((s) => s.filter);
  // A job's own spreadBy is a hard limit (the commit enforces it); the profile's is a preference.
  if (job.constraints.spreadBy !== null && tally) taskFilters.push(spreadShareFilter(machines, job, tally));
  // Host ports, inter-job affinity and topology spread: per task, only for jobs that use them.
  const vocabulary = vocabularyStages(machines, job, inflight);
  taskFilters.push(...vocabulary.filters);
  const ring = new CandidateRing(machines, random, (m) => passesAll(staticFilters, m, job, inflight));
  // A machine refused for good is dropped from the job's ring; one refused by a rule the job's
  // own placements can lift is only passed over (the ring's `eligible`).
  const lasting = taskFilters.filter((f) => !vocabulary.liftable.includes(f));
  const feasible = (m: MachineView) => passesAll(lasting, m, job, inflight);
  const eligible =
    vocabulary.liftable.length === 0
      ? undefined
      : (m: MachineView) => passesAll(vocabulary.liftable, m, job, inflight);
  const scorers = config.scorers
    .filter((s) => s.weight !== 0)
    .map((s) => ({ score: SCORERS[s.name], weight: s.weight }));
  const context: ScoreContext = { spread: scoresSpread ? tally : null };
  const size = effectiveSampleSize(config, machines.length);
  const sample: MachineView[] = [];
  const placements: Placement[] = [];
  let quotaShort: Dimension | null = null;
  let previous: MachineView | undefined;
  for (const taskId of job.pendingTaskIds) {
    quotaShort = quotaShortfall(job, inflight);
    if (quotaShort) break;
    ring.sample(size, feasible, sample, eligible);
    // The previous task's machine competes again while it still fits. Under a packing scorer the
    // job then fills it before opening another, as scoring the whole cell would, and its commit
    // locks and writes fewer machine rows: fewer collisions with other schedulers' commits. Not a
    // GPU machine for a job without GPUs: filled with CPU work, its GPUs would be stranded.
    if (
      previous &&
      !sample.includes(previous) &&
      keepsTo(previous, job) &&
      feasible(previous) &&
      (!eligible || eligible(previous))
    ) {
      sample.push(previous);
    }
    const best = pickBest(sample, job, inflight, context, scorers, vocabulary.spreads);
    // No machine for this task means none for the rest: they are identical.
    if (!best) break;
    placements.push({ taskId, machineId: best.id, machineVersion: best.version });
    inflight.add(job, best.id);
    tally?.record(best);
    vocabulary.record(best);
    previous = best;
  }
  return { placements, filters: [...staticFilters, ...taskFilters], quotaShort };
}

/** Whether a job's next task may be offered its previous task's machine again (see placeTasks). */
function keepsTo(machine: MachineView, job: JobView): boolean {
  return machine.capacity.gpu === 0 || job.request.gpu > 0;
}

const TOPOLOGY_SPREAD_WEIGHT = 2;

/** The sampled machine with the highest weighted score; ties go to the first found. */
function pickBest(
  sample: readonly MachineView[],
  job: JobView,
  inflight: InFlightView,
  context: ScoreContext,
  scorers: readonly { score: Scorer; weight: number }[],
  spreads: readonly TopologyCounts[],
): MachineView | undefined {
  const extender = job.extenderScores;
  if (sample.length <= 1 || (scorers.length === 0 && spreads.length === 0 && !extender)) return sample[0];
  let best: MachineView | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const machine of sample) {
    let total = 0;
    for (const s of scorers) total += s.weight * s.score(machine, job, inflight, context);
    // A job's own topologySpread outweighs the resource scorers (as the service profile's spread).
    if (spreads.length > 0) total += TOPOLOGY_SPREAD_WEIGHT * topologySpreadScore(spreads, machine);
    if (extender) total += extender.weight * (extender.scores.get(machine.id) ?? 0);
    if (total > bestScore) {
      best = machine;
      bestScore = total;
    }
  }
  return best;
}
