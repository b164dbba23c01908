/**
 * Reclaim (SPEC "Sharing"): a cohort member whose unused quota others borrowed wants it back. When
 * a job's tasks are held back by its quota only because its cohort lent that quota out, evict
 * borrowed claims of other members (equal or lower priority, never production for production) so
 * that each task both fits a machine and has its quota back. The commit re-checks each victim
 * (omega.may_reclaim) and the cohort's books (omega.plan_cohort_verdicts).
 *
 * Victims sit on the machine their preemptor lands on, as for any preemption: per task, the
 * machine needing the fewest victims; on a machine, the lowest priority first, then the newest.
 */
import { DIMENSIONS, type Resources, ZERO } from "../domain/resources.ts";
import { shortDimension } from "./filters/capacity.ts";
import type { InFlight } from "./inflight.ts";
import { activeStages } from "./pipeline.ts";
import type { VictimView } from "./preemption.ts";
import type { JobView, MachineView, PipelineConfig, Placement } from "./types.ts";
import { vocabularyStages } from "./vocabulary.ts";

/** A claim of another cohort member that borrows now. */
export interface ReclaimVictim extends VictimView {
  tenantId: number;
}

/** What a reclaim needs to know, read when a job waits on its cohort. */
export interface ReclaimInput {
  /** What the job's tenant leaves unused of its own (nominal) quota: no reclaim goes past it. */
  nominalFree: Resources;
  /** What each borrowing member borrows now, by tenant id: evicting more gives nothing back. */
  borrowed: ReadonlyMap<number, Resources>;
  victimsOn: ReadonlyMap<number, readonly ReclaimVictim[]>;
}

/**
 * Places what it can of `taskIds` by reclaiming borrowed claims; each placement joins the overlay.
 * `round` is what the plan's earlier reclaims took (pass the same one for every job of a plan and
 * band): without it, two jobs of one batch both counted what a member borrows, both evicted for
 * it, and the second eviction gave nothing back.
 */
export function planReclaim(
  machines: readonly MachineView[],
  job: JobView,
  taskIds: readonly number[],
  inflight: InFlight,
  input: ReclaimInput,
  config: PipelineConfig,
  round: ReclaimRound = newReclaimRound(),
): Placement[] {
  const quota = job.quota;
  // A gang would need its minimum reclaimed at once; it waits for borrowed work to end instead.
  if (!quota || job.gangMin !== null) return [];
  const filters = activeStages(config)
    .filter((s) => s.name !== "capacity" && s.name !== "machineTasks")
    .map((s) => s.filter);
  const hosts = machines.filter(
    (m) => input.victimsOn.has(m.id) && filters.every((f) => f(m, job, inflight).ok),
  );
  // The vocabulary's hard rules, as for a preemptor (preemption.ts): the commit re-checks them.
  const vocabulary = vocabularyStages(machines, job, inflight);
  // What a member borrows, as this round first read it, less what the round took since.
  for (const [tenant, r] of input.borrowed)
    if (!round.borrowedLeft.has(tenant)) round.borrowedLeft.set(tenant, { ...r });
  // What the round's reclaims gave back to this quota: the plan's earlier placements charged to it
  // (in `charged` below) were paid for by those evictions.
  const credit = round.credit.get(quota.key) ?? { ...ZERO };
  round.credit.set(quota.key, credit);
  const placements: Placement[] = [];
  for (const taskId of taskIds) {
    const charged = inflight.quotaUsed(quota.key);
    if (DIMENSIONS.some((d) => charged[d] + job.request[d] > input.nominalFree[d])) break;
    const need = { ...ZERO };
    for (const d of DIMENSIONS)
      need[d] = Math.max(0, charged[d] + job.request[d] - quota.free[d] - credit[d]);
    if (DIMENSIONS.every((d) => need[d] === 0)) break;
    let best: { machine: MachineView; victims: ReclaimVictim[]; gained: Resources } | null = null;
    for (const machine of hosts) {
      if (job.constraints.maxPerMachine !== null) {
        const here = (job.placedPerMachine.get(machine.id) ?? 0) + inflight.count(job.id, machine.id);
        if (here >= job.constraints.maxPerMachine) continue;
      }
      if (!vocabulary.filters.every((f) => f(machine, job, inflight).ok)) continue;
      const pick = pickVictims(machine, job, need, inflight, input, round);
      if (pick && (!best || pick.victims.length < best.victims.length)) best = { machine, ...pick };
    }
    if (!best) break;
    for (const v of best.victims) {
      round.taken.add(v.taskId);
      subtractInto(round.borrowedLeft, v.tenantId, v.request);
      addInto(round.freed, best.machine.id, v.request);
    }
    round.evicted.set(best.machine.id, (round.evicted.get(best.machine.id) ?? 0) + best.victims.length);
    for (const d of DIMENSIONS) credit[d] += best.gained[d];
    placements.push({
      taskId,
      machineId: best.machine.id,
      machineVersion: best.machine.version,
      victims: best.victims.map((v) => v.taskId),
    });
    inflight.add(job, best.machine.id);
    vocabulary.record(best.machine);
  }
  return placements;
}

/**
 * What a plan's reclaims have taken so far: victims, the room they free, what members still
 * borrow, and what they gave back to each reclaiming quota (by QuotaView.key).
 */
export interface ReclaimRound {
  taken: Set<number>;
  freed: Map<number, Resources>;
  evicted: Map<number, number>;
  borrowedLeft: Map<number, Resources>;
  credit: Map<string, Resources>;
}

export function newReclaimRound(): ReclaimRound {
  return {
    taken: new Set(),
    freed: new Map(),
    evicted: new Map(),
    borrowedLeft: new Map(),
    credit: new Map(),
  };
}

/** The victims on `machine` that give back `need` of quota and make room for one task, or null. */
function pickVictims(
  machine: MachineView,
  job: JobView,
  need: Resources,
  inflight: InFlight,
  input: ReclaimInput,
  round: ReclaimRound,
): { victims: ReclaimVictim[]; gained: Resources } | null {
  const used = { ...machine.used };
  const onPlan = inflight.used(machine.id);
  const freed = round.freed.get(machine.id) ?? ZERO;
  for (const d of DIMENSIONS) used[d] += onPlan[d] - freed[d];
  let tasks = machine.tasks + inflight.tasksOn(machine.id) - (round.evicted.get(machine.id) ?? 0);
  const left = new Map([...round.borrowedLeft].map(([t, r]) => [t, { ...r }]));
  const gained = { ...ZERO };
  const victims: ReclaimVictim[] = [];
  const fits = () =>
    tasks < machine.maxTasks && shortDimension(machine.capacity, used, ZERO, job.request) === null;
  const covered = () => DIMENSIONS.every((d) => gained[d] >= need[d]);
  const pool = (input.victimsOn.get(machine.id) ?? [])
    .filter((v) => !round.taken.has(v.taskId) && v.gangMin === null)
    .sort((a, b) => a.priority - b.priority || b.taskId - a.taskId);
  for (const v of pool) {
    if (covered() && fits()) break;
    const borrowed = left.get(v.tenantId);
    if (!borrowed || DIMENSIONS.every((d) => borrowed[d] <= 0)) continue;
    victims.push(v);
    tasks--;
    for (const d of DIMENSIONS) {
      used[d] -= v.request[d];
      const back = Math.min(v.request[d], Math.max(borrowed[d], 0));
      gained[d] += back;
      borrowed[d] -= back;
    }
  }
  return covered() && fits() ? { victims, gained } : null;
}

function addInto(totals: Map<number, Resources>, key: number, r: Resources): void {
  const t = totals.get(key) ?? { ...ZERO };
  for (const d of DIMENSIONS) t[d] += r[d];
  totals.set(key, t);
}

function subtractInto(totals: Map<number, Resources>, key: number, r: Resources): void {
  const t = totals.get(key);
  if (!t) return;
  for (const d of DIMENSIONS) t[d] -= r[d];
}
