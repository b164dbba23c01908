/**
 * A scheduler worker's metrics, after kube-scheduler's (scheduler_schedule_attempts_total,
 * scheduler_scheduling_attempt_duration_seconds, scheduler_preemption_*): what this process tried,
 * what the commit procedure made of it, and how long each step took. Counted in memory, in the
 * process that did the work — no database round trip on the hot path.
 *
 * The scheduling loop reports through three calls, one per event, so the loop can change freely:
 *   timeEvaluation(...)  around one evaluation        (src/queue/scheduler-worker.ts)
 *   recordCommit(...)    after each plan's commit     (src/scheduler/evaluate.ts)
 *   trackLeases(...)     once per cell backend        (src/scheduler/postgres-backend.ts)
 */
import { Counter, Gauge, Histogram } from "prom-client";
import type { Placement } from "../placement/types.ts";
import type { EvaluationStats } from "../scheduler/evaluate.ts";
import type { PlacementOutcome } from "../scheduler/interfaces.ts";
import { registry } from "./registry.ts";

const registers = [registry];

const attempts = new Counter({
  name: "omega_schedule_attempts_total",
  help: "Placement attempts by scheduler and result: scheduled (committed), conflict (rejected by the commit procedure), unschedulable (a job parked: its tasks fit nowhere), error (an evaluation failed)",
  labelNames: ["scheduler", "result"] as const,
  registers,
});

const evaluations = new Histogram({
  name: "omega_evaluation_duration_seconds",
  help: "Time of one evaluation (lease, sync, plan, commit, retries until the scheduler's queue is empty), by scheduler and result",
  labelNames: ["scheduler", "result"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers,
});

const phaseSeconds = new Counter({
  name: "omega_evaluation_phase_seconds_total",
  help: "Seconds spent in each phase of evaluations (sync: refreshing the snapshot, plan: placement, commit: the commit procedure), by scheduler",
  labelNames: ["scheduler", "phase"] as const,
  registers,
});

const planSize = new Histogram({
  name: "omega_plan_size_placements",
  help: "Placements proposed per committed plan, by scheduler",
  labelNames: ["scheduler"] as const,
  buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
  registers,
});

const commitDuration = new Histogram({
  name: "omega_commit_duration_seconds",
  help: "Time of one plan commit (omega.commit_plan round trip), by scheduler and result: committed (all of it), partial, rejected (none of it)",
  labelNames: ["scheduler", "result"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers,
});

const conflicts = new Counter({
  name: "omega_conflicts_total",
  help: "Placements the commit procedure rejected, by scheduler and reason (Omega's conflicts)",
  labelNames: ["scheduler", "reason"] as const,
  registers,
});

const preemptionAttempts = new Counter({
  name: "omega_preemption_attempts_total",
  help: "Placements proposed with victims to evict, by scheduler",
  labelNames: ["scheduler"] as const,
  registers,
});

const preemptionVictims = new Counter({
  name: "omega_preemption_victims_total",
  help: "Claims evicted by committed preemptions, by scheduler",
  labelNames: ["scheduler"] as const,
  registers,
});

/** Lease counts of this process, by scheduler and cell: read at scrape time, never counted twice. */
const leaseSources = new Map<string, { scheduler: string; cell: string; count: () => number }>();
new Gauge({
  name: "omega_leases_held",
  help: "Jobs this worker process holds leases on (is planning or backing off from), by scheduler and cell",
  labelNames: ["scheduler", "cell"] as const,
  registers,
  collect() {
    this.reset();
    for (const { scheduler, cell, count } of leaseSources.values()) this.inc({ scheduler, cell }, count());
  },
});

/** The reason of a rejected placement as a label: its words before any detail (ids, numbers). */
export function conflictReason(reason: string | null): string {
  const head = (reason ?? "unknown").split(/[:(0-9]/)[0]?.trim() ?? "";
  return head.length > 0 ? head.slice(0, 60) : "unknown";
}

/** One evaluation, timed, with its outcome counted (the call wraps `evaluate`). */
export async function timeEvaluation(
  scheduler: string,
  run: () => Promise<EvaluationStats>,
): Promise<EvaluationStats> {
  const end = evaluations.startTimer({ scheduler });
  try {
    const stats = await run();
    end({ result: "ok" });
    if (stats.parked > 0) attempts.inc({ scheduler, result: "unschedulable" }, stats.parked);
    phaseSeconds.inc({ scheduler, phase: "sync" }, stats.syncMs / 1000);
    phaseSeconds.inc({ scheduler, phase: "plan" }, stats.planMs / 1000);
    phaseSeconds.inc({ scheduler, phase: "commit" }, stats.commitMs / 1000);
    return stats;
  } catch (error) {
    end({ result: "error" });
    attempts.inc({ scheduler, result: "error" });
    throw error;
  }
}

/** One plan's commit: its size, duration and, per placement, what the commit procedure decided. */
export function recordCommit(
  scheduler: string,
  placements: readonly Placement[],
  outcomes: readonly PlacementOutcome[],
  ms: number,
): void {
  if (placements.length === 0) return;
  let committed = 0;
  let rejected = 0;
  let evicted = 0;
  for (const o of outcomes) {
    if (o.outcome === "committed") committed++;
    else if (o.outcome === "evicted") evicted++;
    else {
      rejected++;
      conflicts.inc({ scheduler, reason: conflictReason(o.reason) });
    }
  }
  planSize.observe({ scheduler }, placements.length);
  const result = rejected === 0 ? "committed" : committed === 0 ? "rejected" : "partial";
  commitDuration.observe({ scheduler, result }, ms / 1000);
  if (committed > 0) attempts.inc({ scheduler, result: "scheduled" }, committed);
  if (rejected > 0) attempts.inc({ scheduler, result: "conflict" }, rejected);
  const withVictims = placements.filter((p) => (p.victims?.length ?? 0) > 0).length;
  if (withVictims > 0) preemptionAttempts.inc({ scheduler }, withVictims);
  if (evicted > 0) preemptionVictims.inc({ scheduler }, evicted);
}

/** Reports a backend's lease count at every scrape. */
export function trackLeases(scheduler: string, cell: string, count: () => number): void {
  leaseSources.set(`${scheduler}\u0000${cell}\u0000${leaseSources.size}`, { scheduler, cell, count });
}
