import { type Band, bandOf } from "../domain/priority.ts";
import type { InFlight } from "../placement/index.ts";
import { planPreemption, preemptionCandidates, type VictimView } from "../placement/preemption.ts";
import { quotaShortfall } from "../placement/quota.ts";
import { newReclaimRound, planReclaim, type ReclaimRound } from "../placement/reclaim.ts";
import type { JobPlan, JobView } from "../placement/types.ts";
import type { EvaluationDeps } from "./evaluate.ts";
import type { VictimSource } from "./interfaces.ts";

// Making room in a round's plan for tasks that fit nowhere free: by priority (preemption) or by
// taking back a lender's quota (reclaim). The commit verifies every victim either way.

/** Machines examined for victims per job that fits nowhere (each costs a look at its claims). */
const PREEMPTION_CANDIDATES = 32;

/**
 * The claims of a machine are read once per round and priority: the jobs of a batch that must
 * preempt look at overlapping machines (in a full cell, one query per job was most of a plan).
 * Within a round the plan works on one snapshot anyway; the commit re-checks every victim.
 */
export function victimsReadOncePerRound(source: VictimSource): VictimSource {
  const read = new Map<string, VictimView[]>();
  const key = (priority: number, machineId: number) => `${priority}:${machineId}`;
  return {
    async on(machineIds, priority) {
      const unread = machineIds.filter((id) => !read.has(key(priority, id)));
      if (unread.length > 0) {
        const fresh = await source.on(unread, priority);
        for (const id of unread) read.set(key(priority, id), fresh.get(id) ?? []);
      }
      const byMachine = new Map<number, VictimView[]>();
      for (const id of machineIds) {
        const victims = read.get(key(priority, id)) ?? [];
        if (victims.length > 0) byMachine.set(id, victims);
      }
      return byMachine;
    },
  };
}

/**
 * Tasks of `job` that fit nowhere: make room by evicting lower-priority claims, if the profile
 * preempts. The placements (with their victims) join the job's plan; the commit verifies them.
 */
export async function preempt(
  deps: EvaluationDeps,
  job: JobView,
  plan: JobPlan,
  inflight: InFlight,
  random: () => number,
): Promise<void> {
  const { profile, snapshot, victims } = deps;
  // Evicting frees no quota of this job's own: work waiting on its quota keeps waiting.
  if (!profile.preemption || !victims || job.priority === 0 || quotaShortfall(job, inflight)) return;
  const machines = snapshot.list();
  const candidates = preemptionCandidates(machines, job, profile, inflight, random, PREEMPTION_CANDIDATES);
  if (candidates.length === 0) return;
  const victimsOn = await victims.on(
    candidates.map((m) => m.id),
    job.priority,
  );
  if (victimsOn.size === 0) return;
  const planned = new Set(plan.placements.map((p) => p.taskId));
  const rest = job.pendingTaskIds.filter((id) => !planned.has(id));
  let alreadyPlaced = plan.placements.length;
  for (const n of job.placedPerMachine.values()) alreadyPlaced += n;
  const more = planPreemption(candidates, machines, job, rest, alreadyPlaced, inflight, victimsOn);
  plan.placements.push(...more);
  plan.unplaced -= more.length;
}

/**
 * Tasks of `job` held back by a quota its cohort lent out: take it back by evicting borrowed claims
 * (SPEC "Sharing", reclaim), whether or not the profile preempts by priority — a lender's quota is
 * its own. The commit verifies every victim as it does any preemption. True when borrowed work it
 * may reclaim was in sight, whether or not this plan could use it.
 */
export async function reclaim(
  deps: EvaluationDeps,
  job: JobView,
  plan: JobPlan,
  inflight: InFlight,
  rounds: Map<Band, ReclaimRound>,
): Promise<boolean> {
  const { profile, snapshot, victims } = deps;
  if (!victims?.reclaimable || job.tenantId === undefined || !quotaShortfall(job, inflight)) return false;
  const input = await victims.reclaimable(job.tenantId, job.priority);
  if (!input || input.victimsOn.size === 0) return false;
  const planned = new Set(plan.placements.map((p) => p.taskId));
  const rest = job.pendingTaskIds.filter((id) => !planned.has(id));
  // The plan's reclaims in one band share what members borrow and the victims taken.
  const band = bandOf(job.priority);
  const round = rounds.get(band) ?? newReclaimRound();
  rounds.set(band, round);
  const more = planReclaim(snapshot.list(), job, rest, inflight, input, profile, round);
  plan.placements.push(...more);
  plan.unplaced -= more.length;
  return true;
}
