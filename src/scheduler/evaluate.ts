import { recordCommit } from "../metrics/scheduling.ts";
import { formatExplanation, InFlight, mulberry32, planJob, seedFrom } from "../placement/index.ts";
import { planPreemption, preemptionCandidates } from "../placement/preemption.ts";
import type { SchedulerProfile } from "../placement/profiles.ts";
import { quotaShortfall } from "../placement/quota.ts";
import type { JobPlan, JobView, Placement } from "../placement/types.ts";
import { extend } from "./extender.ts";
import type { Committer, PlacementOutcome, Snapshot, VictimSource, WorkQueue } from "./interfaces.ts";

/** Machines examined for victims per job that fits nowhere (each costs a look at its claims). */
const PREEMPTION_CANDIDATES = 32;

/**
 * Placements per commit, at most (a job's placements always go together, so one big job may
 * exceed it). A commit holds its machines' row locks until it is durable; a plan of 5,000
 * placements held a third of a 10,000-machine cell for a second, and every other scheduler's
 * commit touching one of those machines lost its placements there (machine_busy). Commits of about
 * a thousand placements cost the same per placement (the write ceiling's batch) and free their
 * machines five times sooner.
 */
export const COMMIT_CHUNK = 1_000;

/** What a round lost only to machine_busy counts towards `maxAttempts`. */
const BUSY_ROUND = 0.25;

export interface EvaluationStats {
  plans: number;
  attempted: number;
  committed: number;
  rejected: number;
  parked: number;
  evicted: number;
  deferred: number;
  syncMs: number;
  planMs: number;
  commitMs: number;
}

export interface EvaluationDeps {
  profile: SchedulerProfile;
  snapshot: Snapshot;
  committer: Committer;
  queue: WorkQueue;
  /** Present when the scheduler may preempt (and its profile allows it). */
  victims?: VictimSource;
  /** Identifies this evaluation in shuffle seeds, so a run can be replayed. */
  evaluationId: string;
  sleep?: (ms: number) => Promise<void>;
  /** True once the worker is stopping: the evaluation finishes its batch and leases no more. */
  stopping?: () => boolean;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One evaluation: lease a batch of jobs, plan them all on the snapshot, commit the plan, and go
 * round again on refreshed state for what was rejected — until the queue is empty. A job whose
 * tasks fit nowhere is parked with its explanation; one that keeps conflicting is retried with
 * jitter, its count reset whenever it makes progress, and after `maxAttempts` fruitless rounds
 * (Nomad's rule) it backs off: deferred, to be retried a little later on fresh state. It is not
 * parked, as parked work waits for capacity to be freed, and there may be room left — the
 * conflicts only say that others took the room this plan wanted.
 */
export async function evaluate(deps: EvaluationDeps): Promise<EvaluationStats> {
  const stats: EvaluationStats = {
    plans: 0,
    attempted: 0,
    committed: 0,
    rejected: 0,
    parked: 0,
    evicted: 0,
    deferred: 0,
    syncMs: 0,
    planMs: 0,
    commitMs: 0,
  };
  const { profile, queue } = deps;
  for (;;) {
    if (deps.stopping?.()) return stats;
    const jobs = await queue.lease(profile.batchSize);
    if (jobs.length === 0) return stats;
    // A full lease suggests a backlog: let another worker take the next batch meanwhile.
    if (jobs.length === profile.batchSize) await queue.shareLoad();
    await placeBatch(deps, jobs, stats);
  }
}

async function placeBatch(deps: EvaluationDeps, leased: JobView[], stats: EvaluationStats): Promise<void> {
  // Jobs whose lease is gone already: placed completely (the commit gave the lease back), parked
  // (so did park), or deferred (held on purpose, given back later).
  const settled = new Set<number>();
  try {
    await planRounds(deps, leased, stats, settled);
  } finally {
    const done = leased.filter((job) => settled.has(job.id)).map((job) => job.id);
    deps.queue.forget(done);
    // Also when a round failed: the leases must not stay with a worker that no longer plans them.
    const held = leased.filter((job) => !settled.has(job.id)).map((job) => job.id);
    if (held.length > 0) await deps.queue.release(held);
  }
}

async function planRounds(
  deps: EvaluationDeps,
  leased: JobView[],
  stats: EvaluationStats,
  settled: Set<number>,
): Promise<void> {
  const { profile, snapshot, committer, queue } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const fruitless = new Map<number, number>();
  let jobs = leased;
  for (let round = 0; jobs.length > 0; round++) {
    let t = performance.now();
    await snapshot.sync();
    stats.syncMs += performance.now() - t;

    t = performance.now();
    const random = mulberry32(seedFrom(deps.evaluationId, snapshot.stateVersion, round));
    const inflight = new InFlight();
    const plans = new Map<number, JobPlan>();
    for (const job of jobs) {
      // A profile's extender (HTTP, outside the pure core) narrows and scores the machines first.
      const extended = await extend(profile, job, snapshot.list());
      const plan = extended.unavailable
        ? { placements: [], unplaced: job.pendingTaskIds.length, explanation: extended.unavailable }
        : planJob(extended.machines, extended.job, profile, inflight, random);
      plans.set(job.id, plan);
      // Omega's artificial decision time (experiments only): t_job + t_task × tasks.
      const think = profile.decisionTime;
      if (think) await sleep(think.jobMs + think.taskMs * plan.placements.length);
    }
    // Preemption after every job had its turn at free room, so no job evicts for what was free.
    for (const job of jobs) {
      const plan = plans.get(job.id);
      if (plan && plan.unplaced > 0) await preempt(deps, job, plan, inflight, random);
    }
    stats.planMs += performance.now() - t;

    t = performance.now();
    const outcomes: PlacementOutcome[] = [];
    const chunkSize = profile.transactionMode === "all-or-nothing" ? Number.POSITIVE_INFINITY : COMMIT_CHUNK;
    for (const chunk of commitChunks(jobs, plans, chunkSize)) {
      const started = performance.now();
      const chunkOutcomes = await committer.commit(chunk);
      recordCommit(profile.name, chunk, chunkOutcomes, performance.now() - started);
      outcomes.push(...chunkOutcomes);
      stats.plans++;
    }
    stats.commitMs += performance.now() - t;
    const proposed = outcomes.filter((o) => o.outcome !== "evicted");
    stats.attempted += proposed.length;
    stats.evicted += outcomes.length - proposed.length;

    const committedByTask = new Set(proposed.filter((o) => o.outcome === "committed").map((o) => o.task_id));
    const busyTasks = new Set(proposed.filter((o) => o.reason === "machine_busy").map((o) => o.task_id));
    stats.committed += committedByTask.size;
    stats.rejected += proposed.length - committedByTask.size;
    // Explanations were computed with the whole plan overlaid: they hold only if all of it committed.
    const planHeld = committedByTask.size === proposed.length;

    const retry: number[] = [];
    for (const job of jobs) {
      const plan = plans.get(job.id);
      if (!plan) continue;
      const committed = plan.placements.filter((p) => committedByTask.has(p.taskId)).length;
      const rejected = plan.placements.length - committed;
      const remaining = job.pendingTaskIds.length - committed;
      if (remaining <= 0) {
        settled.add(job.id);
        continue;
      }
      if (rejected === 0 && plan.explanation && planHeld) {
        // Nothing collided: the rest fits nowhere on current state. Park until capacity appears.
        const reason = formatExplanation(plan.explanation);
        if (await queue.park(job.id, snapshot.capacityEpoch, reason)) {
          stats.parked++;
          settled.add(job.id);
        } else retry.push(job.id);
        continue;
      }
      // A round lost only to machine_busy (another commit held the machine that instant) says
      // nothing about the plan: it counts a quarter of a fruitless round, so such a job is
      // retried at once a few more times before it backs off for seconds.
      const busyOnly = plan.placements.every((p) => committedByTask.has(p.taskId) || busyTasks.has(p.taskId));
      const count = committed > 0 ? 0 : (fruitless.get(job.id) ?? 0) + (busyOnly ? BUSY_ROUND : 1);
      fruitless.set(job.id, count);
      if (count >= profile.maxAttempts) {
        await queue.defer(job.id);
        settled.add(job.id);
        stats.deferred++;
        continue;
      }
      retry.push(job.id);
    }
    jobs = retry.length > 0 ? await queue.reload(retry) : [];
    // Jitter: colliding schedulers should not retry in lockstep.
    if (jobs.length > 0) await sleep(Math.random() * 5 * Math.min(round + 1, 10));
  }
}

/** The plan's placements in commits of at most `size`, each job's placements in one of them. */
export function commitChunks(
  jobs: readonly JobView[],
  plans: ReadonlyMap<number, JobPlan>,
  size: number,
): Placement[][] {
  const chunks: Placement[][] = [];
  let current: Placement[] = [];
  for (const job of jobs) {
    const placements = plans.get(job.id)?.placements ?? [];
    if (placements.length === 0) continue;
    if (current.length > 0 && current.length + placements.length > size) {
      chunks.push(current);
      current = [];
    }
    current.push(...placements);
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * Tasks of `job` that fit nowhere: make room by evicting lower-priority claims, if the profile
 * preempts. The placements (with their victims) join the job's plan; the commit verifies them.
 */
async function preempt(
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
