/**
 * Preemption: when a task fits nowhere, evict lower-priority claims on one machine to make room.
 * The commit procedure re-verifies every eviction; this chooses them so that harm is least, as
 * kube-scheduler's DefaultPreemption does: on each machine the fewest, lowest-priority victims
 * (evict every candidate, then reprieve from the highest priority down while the task still
 * fits), and across machines the one whose worst victim has the lowest priority, then fewest
 * victims, then the lowest sum of priorities.
 */
import { type Resources, ZERO } from "../domain/resources.ts";
import { shortDimension } from "./filters/capacity.ts";
import type { InFlight } from "./inflight.ts";
import { activeStages } from "./pipeline.ts";
import { quotaShortfall } from "./quota.ts";
import { shuffle } from "./random.ts";
import { SpreadTally } from "./scorers/spread-tally.ts";
import { spreadShareFilter } from "./spread-share.ts";
import type { Filter, JobView, MachineView, PipelineConfig, Placement } from "./types.ts";
import { vocabularyStages } from "./vocabulary.ts";

/** A claim that might be evicted. */
export interface VictimView {
  taskId: number;
  jobId: number;
  priority: number;
  request: Resources;
  /** The victim's job is a gang of this minimum (null: not a gang). */
  gangMin: number | null;
  /** Claims the victim's job holds in the cell: a gang may lose only those above its minimum. */
  jobClaims: number;
}

/** SPEC: strictly lower priority only, and production (200+) never evicts production. */
export function mayPreempt(preemptor: number, victim: number): boolean {
  return victim < preemptor && !(victim >= 200 && preemptor >= 200);
}

/**
 * Machines the job could use if room were made: every rule but capacity and the task cap holds, and
 * it is big enough. (A machine full of tiny low-priority tasks — at its cap — is room to be made
 * too, or a flood of best-effort tasks would shut production out.)
 */
export function preemptionCandidates(
  machines: readonly MachineView[],
  job: JobView,
  config: PipelineConfig,
  inflight: InFlight,
  random: () => number,
  limit: number,
): MachineView[] {
  const filters = activeStages(config)
    .filter((s) => s.name !== "capacity" && s.name !== "machineTasks")
    .map((s) => s.filter);
  const fits = (m: MachineView) =>
    shortDimension(m.capacity, ZERO, ZERO, job.request) === null &&
    filters.every((f) => f(m, job, inflight).ok);
  return shuffle(machines.filter(fits), random).slice(0, limit);
}

interface Choice {
  machine: MachineView;
  victims: VictimView[];
}

/**
 * Places what it can of the job's `unplaced` tasks by evicting claims listed in `victimsOn` (by
 * machine id, already limited to priorities the job may preempt). Each placement is added to the
 * overlay and carries its victims. A gang that still misses its minimum gets nothing.
 */
export function planPreemption(
  candidates: readonly MachineView[],
  machines: readonly MachineView[],
  job: JobView,
  taskIds: readonly number[],
  alreadyPlaced: number,
  inflight: InFlight,
  victimsOn: ReadonlyMap<number, readonly VictimView[]>,
): Placement[] {
  const taken = new Set<number>();
  const freed = new Map<number, Resources>();
  // Claims this plan already evicts per machine: slots under the task cap as well as resources.
  const evicted = new Map<number, number>();
  // A gang victim's job may lose only its claims above minAvailable.
  const gangBudget = new Map<number, number>();
  const tally =
    job.constraints.spreadBy === null
      ? null
      : new SpreadTally(job.constraints.spreadBy, machines, job, inflight);
  const share: Filter | null = tally ? spreadShareFilter(machines, job, tally) : null;
  // Ports, inter-job affinity and topology spread hold for a preemptor too (the commit re-checks
  // them). Counted as if no victim left: evicting the holder of a port would free it, but a plan
  // that relied on that was refused whenever the holder was not among the victims chosen.
  const vocabulary = vocabularyStages(machines, job, inflight);
  const placements: Placement[] = [];
  for (const taskId of taskIds) {
    // Evicting another tenant's work frees no quota: a job waiting on its quota keeps waiting.
    if (quotaShortfall(job, inflight)) break;
    let best: Choice | null = null;
    for (const machine of candidates) {
      if (share && !share(machine, job, inflight).ok) continue;
      if (!vocabulary.filters.every((f) => f(machine, job, inflight).ok)) continue;
      if (job.constraints.maxPerMachine !== null) {
        const here = (job.placedPerMachine.get(machine.id) ?? 0) + inflight.count(job.id, machine.id);
        if (here >= job.constraints.maxPerMachine) continue;
      }
      const victims = chooseVictims(
        machine,
        inflight,
        freed.get(machine.id),
        evicted.get(machine.id) ?? 0,
        job,
        victimsOn.get(machine.id) ?? [],
        taken,
        gangBudget,
      );
      if (victims && (!best || better(victims, best.victims))) best = { machine, victims };
    }
    if (!best) break;
    const chosen = best;
    for (const v of chosen.victims) {
      taken.add(v.taskId);
      if (v.gangMin !== null) gangBudget.set(v.jobId, budgetOf(v, gangBudget) - 1);
      addTo(freed, chosen.machine.id, v.request);
    }
    evicted.set(chosen.machine.id, (evicted.get(chosen.machine.id) ?? 0) + chosen.victims.length);
    placements.push({
      taskId,
      machineId: chosen.machine.id,
      machineVersion: chosen.machine.version,
      victims: chosen.victims.map((v) => v.taskId),
    });
    inflight.add(job, chosen.machine.id);
    tally?.record(chosen.machine);
    vocabulary.record(chosen.machine);
  }
  if (job.gangMin !== null && alreadyPlaced + placements.length < job.gangMin) {
    for (const p of placements) inflight.remove(job, p.machineId);
    return [];
  }
  return placements;
}

function budgetOf(v: VictimView, budgets: ReadonlyMap<number, number>): number {
  return budgets.get(v.jobId) ?? (v.gangMin === null ? Number.POSITIVE_INFINITY : v.jobClaims - v.gangMin);
}

/** The fewest, lowest-priority victims on the machine that make room for one task, or null. */
function chooseVictims(
  machine: MachineView,
  inflight: InFlight,
  alreadyFreed: Resources | undefined,
  alreadyEvicted: number,
  job: JobView,
  candidates: readonly VictimView[],
  taken: ReadonlySet<number>,
  gangBudget: ReadonlyMap<number, number>,
): VictimView[] | null {
  const budgets = new Map<number, number>();
  const pool: VictimView[] = [];
  for (const v of [...candidates].sort((a, b) => a.priority - b.priority || a.taskId - b.taskId)) {
    if (taken.has(v.taskId) || !mayPreempt(job.priority, v.priority)) continue;
    const left = budgets.get(v.jobId) ?? budgetOf(v, gangBudget);
    if (left <= 0) continue;
    budgets.set(v.jobId, left - 1);
    pool.push(v);
  }
  const used = { ...machine.used };
  subtract(used, inflight.used(machine.id), -1);
  if (alreadyFreed) subtract(used, alreadyFreed, 1);
  for (const v of pool) subtract(used, v.request, 1);
  // Claims on the machine once the plan so far and these victims are accounted for.
  let tasks = machine.tasks + inflight.tasksOn(machine.id) - alreadyEvicted - pool.length;
  const fits = () =>
    tasks < machine.maxTasks && shortDimension(machine.capacity, used, ZERO, job.request) === null;
  if (!fits()) return null;
  // Reprieve from the highest priority down: keep every victim the task can do without.
  const victims = new Set(pool);
  for (let i = pool.length - 1; i >= 0; i--) {
    const v = pool[i] as VictimView;
    subtract(used, v.request, -1);
    tasks++;
    if (fits()) victims.delete(v);
    else {
      subtract(used, v.request, 1);
      tasks--;
    }
  }
  // Possibly none: a gang may complete on room that was free once its other tasks evict.
  return [...victims];
}

/** Less harm: a lower worst priority, then fewer victims, then a lower priority sum. */
function better(a: readonly VictimView[], b: readonly VictimView[]): boolean {
  const x = harm(a);
  const y = harm(b);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) return (x[i] as number) < (y[i] as number);
  }
  return false;
}

function harm(victims: readonly VictimView[]): number[] {
  let worst = 0;
  let sum = 0;
  for (const v of victims) {
    worst = Math.max(worst, v.priority);
    sum += v.priority;
  }
  return [worst, victims.length, sum];
}

/** used -= r (sign 1) or used += r (sign -1). */
function subtract(used: Resources, r: Readonly<Resources>, sign: 1 | -1): void {
  used.cpu -= sign * r.cpu;
  used.memory -= sign * r.memory;
  used.gpu -= sign * r.gpu;
  used.disk -= sign * r.disk;
}

function addTo(totals: Map<number, Resources>, id: number, r: Resources): void {
  const t = totals.get(id) ?? { cpu: 0, memory: 0, gpu: 0, disk: 0 };
  t.cpu += r.cpu;
  t.memory += r.memory;
  t.gpu += r.gpu;
  t.disk += r.disk;
  totals.set(id, t);
}
