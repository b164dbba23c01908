import { formatExplanation, InFlight, mulberry32, planJob, seedFrom } from "../placement/index.ts";
import type { SchedulerProfile } from "../placement/profiles.ts";
import type { JobPlan, JobView, Placement } from "../placement/types.ts";
import type { Committer, Snapshot, WorkQueue } from "./interfaces.ts";

export interface EvaluationStats {
  plans: number;
  attempted: number;
  committed: number;
  rejected: number;
  parked: number;
  syncMs: number;
  planMs: number;
  commitMs: number;
}

export interface EvaluationDeps {
  profile: SchedulerProfile;
  snapshot: Snapshot;
  committer: Committer;
  queue: WorkQueue;
  /** Identifies this evaluation in shuffle seeds, so a run can be replayed. */
  evaluationId: string;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One evaluation: lease a batch of jobs, plan them all on the snapshot, commit the plan, and go
 * round again on refreshed state for what was rejected — until the queue is empty. A job whose
 * tasks fit nowhere is parked with its explanation; one that keeps conflicting is retried with
 * jitter, its count reset whenever it makes progress, and parked after `maxAttempts` fruitless
 * rounds (Nomad's rule).
 */
export async function evaluate(deps: EvaluationDeps): Promise<EvaluationStats> {
  const stats: EvaluationStats = {
    plans: 0,
    attempted: 0,
    committed: 0,
    rejected: 0,
    parked: 0,
    syncMs: 0,
    planMs: 0,
    commitMs: 0,
  };
  const { profile, queue } = deps;
  for (;;) {
    const jobs = await queue.lease(profile.batchSize);
    if (jobs.length === 0) return stats;
    // A full lease suggests a backlog: let another worker take the next batch meanwhile.
    if (jobs.length === profile.batchSize) await queue.shareLoad();
    await placeBatch(deps, jobs, stats);
  }
}

async function placeBatch(deps: EvaluationDeps, leased: JobView[], stats: EvaluationStats): Promise<void> {
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
    const placements: Placement[] = [];
    for (const job of jobs) {
      const plan = planJob(snapshot.list(), job, profile, inflight, random);
      plans.set(job.id, plan);
      placements.push(...plan.placements);
      // Omega's artificial decision time (experiments only): t_job + t_task × tasks.
      const think = profile.decisionTime;
      if (think) await sleep(think.jobMs + think.taskMs * plan.placements.length);
    }
    stats.planMs += performance.now() - t;

    t = performance.now();
    const outcomes = placements.length > 0 ? await committer.commit(placements) : [];
    stats.commitMs += performance.now() - t;
    stats.plans += placements.length > 0 ? 1 : 0;
    stats.attempted += outcomes.length;

    const committedByTask = new Set(outcomes.filter((o) => o.outcome === "committed").map((o) => o.task_id));
    stats.committed += committedByTask.size;
    stats.rejected += outcomes.length - committedByTask.size;

    const retry: number[] = [];
    for (const job of jobs) {
      const plan = plans.get(job.id);
      if (!plan) continue;
      const committed = plan.placements.filter((p) => committedByTask.has(p.taskId)).length;
      const rejected = plan.placements.length - committed;
      const remaining = job.pendingTaskIds.length - committed;
      if (remaining <= 0) continue;
      if (rejected === 0 && plan.explanation) {
        // Nothing collided: the rest fits nowhere on current state. Park until capacity appears.
        const reason = formatExplanation(plan.explanation);
        if (await queue.park(job.id, snapshot.capacityEpoch, reason)) stats.parked++;
        else retry.push(job.id);
        continue;
      }
      const count = committed > 0 ? 0 : (fruitless.get(job.id) ?? 0) + 1;
      fruitless.set(job.id, count);
      if (count >= profile.maxAttempts) {
        const reason = `gave up after ${count} conflicting attempts; waiting for capacity to change`;
        if (await queue.park(job.id, snapshot.capacityEpoch, reason)) stats.parked++;
        else retry.push(job.id);
        continue;
      }
      retry.push(job.id);
    }
    jobs = retry.length > 0 ? await queue.reload(retry) : [];
    // Jitter: colliding schedulers should not retry in lockstep.
    if (jobs.length > 0) await sleep(Math.random() * 5 * Math.min(round + 1, 10));
  }
  await queue.release(leased.map((job) => job.id));
}
