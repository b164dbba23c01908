import type { Band } from "../domain/priority.ts";
import { recordCommit } from "../metrics/scheduling.ts";
import { planFlow } from "../placement/flow/plan-flow.ts";
import { formatExplanation, InFlight, mulberry32, planJob, seedFrom } from "../placement/index.ts";
import type { SchedulerProfile } from "../placement/profiles.ts";
import type { ReclaimRound } from "../placement/reclaim.ts";
import type { JobPlan, JobView, Placement } from "../placement/types.ts";
import { type ExtenderFailure, extend } from "./extender.ts";
import type { Committer, PlacementOutcome, Snapshot, VictimSource, WorkQueue } from "./interfaces.ts";
import { preempt, reclaim, victimsReadOncePerRound } from "./make-room.ts";

/**
 * Placements per commit, at most (a job's placements always go together, so one big job may
 * exceed it). A commit holds its machines' row locks until it is durable; a plan of 5,000
 * placements held a third of a 10,000-machine cell for a second, and every other scheduler's
 * commit touching one of those machines lost its placements there (machine_busy). Commits of about
 * a thousand placements cost the same per placement (the write ceiling's batch) and free their
 * machines five times sooner.
 */
export const COMMIT_CHUNK = 1_000;

/**
 * Refusals that only say another commit got there first, not that the plan was wrong: the machine
 * was locked that instant (machine_busy), or another scheduler evicted the victim this plan chose
 * (victim_gone: schedulers reclaiming at once pick the same newest borrowed claim).
 */
const RACE_REFUSALS = new Set(["machine_busy", "victim_gone"]);

/**
 * Planning time after which a round stops taking more jobs and commits what it has decided; the
 * jobs not planned yet go first in the next round, on a fresh snapshot. A plan is checked against
 * the cell as the round's sync saw it, so every commit landing in between can refuse it: with 10 ms
 * of decision time per job (Omega's t_job, or a slow extender), a round of 32 jobs was 320 ms old
 * when it committed, and two workers tried 1.17 placements for each one placed (1.05–1.06 in
 * rounds of 50 ms, at the same throughput). The first job of such a batch also waited for the
 * last to be decided before it was placed.
 */
export const ROUND_PLANNING_MS = 50;

/** What a round lost only to races (RACE_REFUSALS) counts towards `maxAttempts`. */
const RACE_ROUND = 0.25;

/**
 * The commit's verdicts on the placement vocabulary (omega.plan_vocabulary_verdicts). The planner
 * reads the same rules from the state each retry reloads, so a job refused for these alone round
 * after round is one the planner cannot place as the commit sees the cell: deferred, it came back
 * to the same refusal forever; parked, it waits for the cell to change (a claim released).
 */
const VOCABULARY_REFUSALS: ReadonlySet<string> = new Set([
  "port_conflict",
  "job_anti_affinity",
  "job_affinity",
  "topology_spread",
]);

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
  /** The clock a round's planning time is read from (ms); tests pass one that `sleep` moves. */
  now?: () => number;
  /** True once the worker is stopping: the evaluation finishes its batch and leases no more. */
  stopping?: () => boolean;
  /** Told when the profile's extender fails (slow, down, a bad answer); the worker logs it. */
  onExtenderFailure?: ExtenderFailure;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One evaluation: lease a batch of jobs, plan them on the snapshot (for at most ROUND_PLANNING_MS),
 * commit the plan, and go round again on refreshed state for what was not planned yet or was
 * rejected — until the queue is empty. A job whose tasks fit nowhere is parked with its
 * explanation; one that keeps conflicting is retried with jitter, its count reset whenever it
 * makes progress, and after `maxAttempts` fruitless rounds (Nomad's rule) it backs off: deferred,
 * to be retried a little later on fresh state. It is not parked, as parked work waits for capacity
 * to be freed, and there may be room left — the conflicts only say that others took the room this
 * plan wanted.
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
    const full = jobs.length === profile.batchSize;
    // A full lease suggests a backlog: let another worker take the next batch meanwhile.
    if (full) await queue.shareLoad();
    const givenBack = await placeBatch(deps, jobs, stats);
    // A short lease took all the work there was. Work that arrives later, or that others evict or
    // release, wakes the worker (a wake-up during this evaluation starts another one); only what
    // this batch gave back unplanned is leasable without a wake-up, so only then lease again.
    if (!full && givenBack === 0) return stats;
  }
}

/** Plans a leased batch; returns how many of its jobs it gave back unplanned (leasable again). */
async function placeBatch(deps: EvaluationDeps, leased: JobView[], stats: EvaluationStats): Promise<number> {
  // Jobs whose lease is gone already: placed completely (the commit gave the lease back), parked
  // (so did park), or deferred (held on purpose, given back later).
  const settled = new Set<number>();
  // Of those, the jobs whose lease park gave back because room appeared: leasable again at once.
  const unparked = new Set<number>();
  let held: number[] = [];
  try {
    await planRounds(deps, leased, stats, settled, unparked);
  } finally {
    const done = leased.filter((job) => settled.has(job.id)).map((job) => job.id);
    deps.queue.forget(done);
    // Also when a round failed: the leases must not stay with a worker that no longer plans them.
    held = leased.filter((job) => !settled.has(job.id)).map((job) => job.id);
    if (held.length > 0) await deps.queue.release(held);
  }
  return held.length + unparked.size;
}

/** What a round's commit left to do: jobs to plan again on fresh state, and whether all of it held. */
interface RoundOutcome {
  retried: JobView[];
  held: boolean;
}

/**
 * The rounds of a batch. A round that stops planning at ROUND_PLANNING_MS with jobs left over
 * commits in the background while the next round plans those jobs, on the same snapshot with the
 * first round's placements still overlaid (InFlight): one commit under way at a time, the next one
 * sent once it is answered. With decision time per job (Omega's t_job) a worker was otherwise idle
 * while its commit ran, and its commit while it decided. Jobs refused at commit wait for the next
 * round that syncs a fresh snapshot.
 */
async function planRounds(
  deps: EvaluationDeps,
  leased: JobView[],
  stats: EvaluationStats,
  settled: Set<number>,
  unparked: Set<number>,
): Promise<void> {
  const { snapshot } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const fruitless = new Map<number, number>();
  let jobs = leased;
  let inflight = new InFlight();
  // The previous round's commit, while this round goes on planning what it left over.
  let underWay: Promise<RoundOutcome> | undefined;
  try {
    for (let round = 0; jobs.length > 0; round++) {
      let t = performance.now();
      if (!underWay) {
        await snapshot.sync();
        inflight = new InFlight();
      }
      stats.syncMs += performance.now() - t;

      t = performance.now();
      const { decided, carried } = await decideRound(deps, jobs, inflight, round);
      stats.planMs += performance.now() - t;

      const earlier = underWay ? await underWay : { retried: [], held: true };
      const committing = commitRound(
        deps,
        { ...decided, heldBefore: earlier.held },
        stats,
        settled,
        unparked,
        fruitless,
      ).then((r) => ({
        retried: [...earlier.retried, ...r.retried],
        held: r.held,
      }));
      if (carried.length > 0) {
        // Handled now, thrown where it is awaited: a commit that fails while the next round is
        // deciding must not be an unhandled rejection meanwhile.
        committing.catch(() => {});
        underWay = committing;
        jobs = carried;
        continue;
      }
      underWay = undefined;
      const { retried } = await committing;
      // Jitter: colliding schedulers should not retry in lockstep.
      if (retried.length > 0) await sleep(Math.random() * 5 * Math.min(round + 1, 10));
      jobs = retried;
    }
  } catch (error) {
    // The leases go back once nothing of this batch is being committed any more.
    await underWay?.catch(() => {});
    throw error;
  }
}

/**
 * Plans a round's jobs on the snapshot with `inflight` overlaid, job by job until it has planned for
 * ROUND_PLANNING_MS (the rest are carried to the next round), then lets the jobs with tasks left
 * make room: preemption, then reclaim.
 */
async function decideRound(
  deps: EvaluationDeps,
  jobs: JobView[],
  inflight: InFlight,
  round: number,
): Promise<{ decided: Omit<Round, "heldBefore">; carried: JobView[] }> {
  const { profile, snapshot } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const now = deps.now ?? (() => performance.now());
  const random = mulberry32(seedFrom(deps.evaluationId, snapshot.stateVersion, round));
  const plans = new Map<number, JobPlan>();
  // The flow scheduler places the whole batch at once; the others job by job.
  if (profile.flow)
    for (const [id, plan] of planFlow(snapshot.list(), jobs, profile, inflight, random).plans)
      plans.set(id, plan);
  const planningStarted = now();
  let carried: JobView[] = [];
  for (const [i, job] of (profile.flow ? [] : jobs).entries()) {
    if (i > 0 && now() - planningStarted >= ROUND_PLANNING_MS) {
      carried = jobs.slice(i);
      jobs = jobs.slice(0, i);
      break;
    }
    // A profile's extender (HTTP, outside the pure core) narrows and scores the machines first.
    const extended = await extend(profile, job, snapshot.list(), deps.onExtenderFailure);
    const plan = extended.unavailable
      ? { placements: [], unplaced: job.pendingTaskIds.length, explanation: extended.unavailable }
      : planJob(extended.machines, extended.job, profile, inflight, random);
    plans.set(job.id, plan);
    // Omega's artificial decision time (experiments only): t_job + t_task × tasks.
    const think = profile.decisionTime;
    if (think) await sleep(think.jobMs + think.taskMs * plan.placements.length);
  }
  // Preemption after every job had its turn at free room, so no job evicts for what was free.
  const victims = deps.victims && victimsReadOncePerRound(deps.victims);
  const reclaims = new Map<Band, ReclaimRound>();
  // Jobs that saw borrowed work they may reclaim and still have tasks left: they must not park.
  const borrowedInSight = new Set<number>();
  for (const job of jobs) {
    const plan = plans.get(job.id);
    if (plan && plan.unplaced > 0 && plan.preempt !== false)
      await preempt({ ...deps, victims }, job, plan, inflight, random);
    if (plan && plan.unplaced > 0) {
      const inSight = await reclaim(deps, job, plan, inflight, reclaims);
      if (inSight && plan.unplaced > 0) borrowedInSight.add(job.id);
    }
  }
  return { decided: { jobs, plans, borrowedInSight }, carried };
}

interface Round {
  jobs: JobView[];
  plans: Map<number, JobPlan>;
  borrowedInSight: Set<number>;
  /** Whether every placement of the rounds planned before it on the same snapshot committed. */
  heldBefore: boolean;
}

/** Commits a round's plan and settles each of its jobs: placed, parked, deferred or retried. */
async function commitRound(
  deps: EvaluationDeps,
  { jobs, plans, borrowedInSight, heldBefore }: Round,
  stats: EvaluationStats,
  settled: Set<number>,
  unparked: Set<number>,
  fruitless: Map<number, number>,
): Promise<RoundOutcome> {
  const { profile, snapshot, committer, queue } = deps;
  const t = performance.now();
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
  const racedTasks = new Set(proposed.filter((o) => RACE_REFUSALS.has(o.reason ?? "")).map((o) => o.task_id));
  const refusedFor = new Map(
    proposed.filter((o) => o.outcome !== "committed").map((o) => [o.task_id, o.reason ?? ""]),
  );
  stats.committed += committedByTask.size;
  stats.rejected += proposed.length - committedByTask.size;
  // Explanations were computed with the whole plan overlaid, and the plans of the rounds before it
  // on the same snapshot: they hold only if all of those committed.
  const held = heldBefore && committedByTask.size === proposed.length;

  const retry: number[] = [];
  const toPark: { jobId: number; reason: string }[] = [];
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
    // Nothing collided: the rest fits nowhere on current state. Park until capacity appears —
    // unless borrowed work it may reclaim was in sight (this plan's other reclaims took it, or it
    // moved): parked, it would wait for a release while a member borrows its quota. It is
    // retried on fresh state instead, then backs off.
    if (rejected === 0 && plan.explanation && held && !borrowedInSight.has(job.id)) {
      toPark.push({ jobId: job.id, reason: formatExplanation(plan.explanation) });
      continue;
    }
    // A round lost only to races says nothing about the plan: it counts a quarter of a fruitless
    // round, so such a job is retried at once a few more times before it backs off for seconds.
    const racedOnly = plan.placements.every((p) => committedByTask.has(p.taskId) || racedTasks.has(p.taskId));
    const count = committed > 0 ? 0 : (fruitless.get(job.id) ?? 0) + (racedOnly ? RACE_ROUND : 1);
    fruitless.set(job.id, count);
    const refusals = plan.placements.flatMap((p) => refusedFor.get(p.taskId) ?? []);
    if (
      count >= profile.maxAttempts &&
      refusals.length > 0 &&
      refusals.every((r) => VOCABULARY_REFUSALS.has(r))
    ) {
      toPark.push({ jobId: job.id, reason: `refused at commit: ${[...new Set(refusals)].join(", ")}` });
      continue;
    }
    if (count >= profile.maxAttempts) {
      await queue.defer(job.id);
      settled.add(job.id);
      stats.deferred++;
      continue;
    }
    retry.push(job.id);
  }
  if (toPark.length > 0) {
    // In one round trip: in a full cell, most of a batch parks.
    const parked = await queue.park(toPark, snapshot.capacityEpoch);
    stats.parked += parked.size;
    // Those not parked — room appeared meanwhile (or the lease lapsed) — had their leases given
    // back by the park. They are leased again in fair-share order (SPEC "Sharing") instead of
    // planned again here: kept in this loop while tasks finish, a big job took every room freed.
    for (const { jobId } of toPark) {
      settled.add(jobId);
      if (!parked.has(jobId)) unparked.add(jobId);
    }
  }
  return { retried: retry.length > 0 ? await queue.reload(retry) : [], held };
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
