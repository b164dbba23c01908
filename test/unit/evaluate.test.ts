import { describe, expect, it } from "vitest";
import { batchProfile, type SchedulerProfile } from "../../src/placement/profiles.ts";
import type { JobView, MachineView, Placement } from "../../src/placement/types.ts";
import { commitChunks, evaluate, ROUND_PLANNING_MS } from "../../src/scheduler/evaluate.ts";
import type { Committer, PlacementOutcome, Snapshot, WorkQueue } from "../../src/scheduler/interfaces.ts";
import { job, machine } from "./placement-factories.ts";

/** The Omega loop against in-memory fakes: a snapshot, a committer that decides, a work queue. */
function harness(
  machines: MachineView[],
  jobs: JobView[],
  decide: (p: Placement, call: number) => string | null,
) {
  const snapshot: Snapshot & { syncs: number } = {
    syncs: 0,
    capacityEpoch: 7,
    stateVersion: 1,
    async sync() {
      this.syncs++;
    },
    list: () => machines,
  };
  const plans: Placement[][] = [];
  const committed = new Set<number>();
  const committer: Committer = {
    async commit(placements) {
      plans.push([...placements]);
      return placements.map((p): PlacementOutcome => {
        const reason = decide(p, plans.length);
        if (reason === null) committed.add(p.taskId);
        return {
          task_id: p.taskId,
          machine_id: p.machineId,
          outcome: reason ? "rejected" : "committed",
          reason,
        };
      });
    },
  };
  const parked: { jobId: number; epoch: number; reason: string; afterPlans: number }[] = [];
  const deferred: number[] = [];
  const released: number[] = [];
  const forgotten: number[] = [];
  let leased = false;
  let leases = 0;
  let shared = 0;
  const fresh = (j: JobView): JobView => ({
    ...j,
    pendingTaskIds: j.pendingTaskIds.filter((t) => !committed.has(t)),
  });
  const queue: WorkQueue & { parkAnswers: boolean[] } = {
    parkAnswers: [],
    async lease(limit) {
      leases++;
      if (leased) return [];
      leased = true;
      return jobs.slice(0, limit);
    },
    async reload(ids) {
      return jobs.filter((j) => ids.includes(j.id)).map(fresh);
    },
    async park(toPark, epoch) {
      const accepted = queue.parkAnswers.shift() ?? true;
      for (const { jobId, reason } of toPark) parked.push({ jobId, epoch, reason, afterPlans: plans.length });
      return new Set(accepted ? toPark.map((p) => p.jobId) : []);
    },
    async defer(jobId) {
      deferred.push(jobId);
    },
    async release(jobIds) {
      released.push(...jobIds);
    },
    forget(jobIds) {
      forgotten.push(...jobIds);
    },
    async shareLoad() {
      shared++;
    },
  };
  const slept: number[] = [];
  let sleepHook: (ms: number) => unknown = () => {};
  // Time passes only in `sleep` (decision time, jitter): a round's planning time is what it slept.
  let clock = 0;
  const run = (profile: SchedulerProfile = batchProfile) =>
    evaluate({
      profile,
      snapshot,
      committer,
      queue,
      evaluationId: "eval-1",
      sleep: async (ms) => {
        slept.push(ms);
        await sleepHook(ms);
        clock += ms;
      },
      now: () => clock,
    });
  return {
    run,
    snapshot,
    plans,
    committed,
    parked,
    deferred,
    released,
    forgotten,
    queue,
    shared: () => shared,
    leases: () => leases,
    slept,
    committer,
    onSleep: (hook: (ms: number) => unknown) => {
      sleepHook = hook;
    },
  };
}

describe("evaluate (the Omega loop)", () => {
  it("plans every leased job into one commit, whose leases go with it (no release round trip)", async () => {
    const jobs = [job({ tasks: 3 }), job({ tasks: 2, pendingTaskIds: [10, 11] })];
    const h = harness([machine(), machine()], jobs, () => null);
    const stats = await h.run();
    expect(h.plans).toHaveLength(1);
    expect(h.plans[0]?.map((p) => p.taskId).sort((a, b) => a - b)).toEqual([1, 2, 3, 10, 11]);
    expect(stats).toMatchObject({ plans: 1, attempted: 5, committed: 5, rejected: 0, parked: 0 });
    expect(h.released).toEqual([]);
    expect(h.forgotten.sort()).toEqual(jobs.map((j) => j.id).sort());
    // A short lease took all the work there was, and all of it is settled: no lease to find nothing.
    expect(h.leases()).toBe(1);
  });

  it("leases again after a short lease when a job it gave back unplanned is leasable at once", async () => {
    const jobs = [job({ tasks: 2 })];
    // Rejected, then gone from the reload (the lease lapsed meanwhile): released, not settled.
    const h = harness([machine()], jobs, () => "insufficient_resources");
    h.queue.reload = async () => [];
    await h.run();
    expect(h.released).toEqual([jobs[0]?.id]);
    expect(h.leases()).toBe(2);
  });

  it("releases the leases of jobs it still holds when a round fails", async () => {
    const jobs = [job({ tasks: 2 })];
    // A rejection forces a second round, whose reload fails.
    const failing = harness([machine()], jobs, () => "insufficient_resources");
    failing.queue.reload = async () => {
      throw new Error("database gone");
    };
    await expect(failing.run()).rejects.toThrow("database gone");
    expect(failing.released).toEqual([jobs[0]?.id]);
  });

  it("retries rejected placements on a fresh snapshot, then defers (not parks) after maxAttempts fruitless rounds", async () => {
    const jobs = [job({ tasks: 1 })];
    const h = harness([machine()], jobs, () => "insufficient_resources");
    const stats = await h.run({ ...batchProfile, maxAttempts: 3 });
    expect(h.plans).toHaveLength(3);
    expect(h.snapshot.syncs).toBe(3);
    // Parked work waits for freed capacity, which may never come although there is room left.
    expect(stats).toMatchObject({ parked: 0, deferred: 1 });
    expect(h.parked).toEqual([]);
    expect(h.deferred).toEqual([jobs[0]?.id]);
    // A deferred job stays leased until its backoff ends: it is not released with the batch.
    expect(h.released).toEqual([]);
  });

  it("parks (not defers) a job the commit refuses for the placement vocabulary alone, round after round", async () => {
    // The planner re-reads ports and anti-affinity on every retry: refused for them maxAttempts
    // times, it cannot place the job as the commit sees the cell. Deferred, it came back forever.
    const jobs = [job({ tasks: 2 })];
    const h = harness([machine(), machine()], jobs, (p) =>
      p.taskId === 1 ? "port_conflict" : "job_anti_affinity",
    );
    const stats = await h.run({ ...batchProfile, maxAttempts: 3 });
    expect(h.plans).toHaveLength(3);
    expect(stats).toMatchObject({ parked: 1, deferred: 0 });
    expect(h.deferred).toEqual([]);
    expect(h.parked.map((p) => [p.jobId, p.reason])).toEqual([
      [jobs[0]?.id, "refused at commit: port_conflict, job_anti_affinity"],
    ]);
  });

  it("defers a job refused for the vocabulary and for a conflict together (the conflict may clear)", async () => {
    const jobs = [job({ tasks: 2 })];
    const h = harness([machine(), machine()], jobs, (p) =>
      p.taskId === 1 ? "port_conflict" : "machine_changed",
    );
    const stats = await h.run({ ...batchProfile, maxAttempts: 3 });
    expect(stats).toMatchObject({ parked: 0, deferred: 1 });
  });

  it("does not park a job on an explanation made with placements that were then rejected", async () => {
    // One slot: the first job takes it in the plan, so the second fits nowhere — but the commit
    // rejects the first job's placement, so that explanation was wrong and the job is planned again.
    const first = job({ pendingTaskIds: [1] });
    const second = job({ pendingTaskIds: [2] });
    const h = harness([machine({ capacity: { cpu: 1000 } })], [first, second], (p, call) =>
      call === 1 && p.taskId === 1 ? "insufficient_resources" : null,
    );
    await h.run();
    // Parked only after the second plan, whose placement (the first job's) did commit.
    expect(h.parked.map((p) => [p.jobId, p.afterPlans])).toEqual([[second.id, 2]]);
    expect([...h.committed]).toEqual([1]);
  });

  it("resets the attempt count whenever a round makes progress", async () => {
    // Only the first placement of each commit goes through: 5 rounds for 5 tasks, more than maxAttempts.
    const h = harness([machine({ capacity: { cpu: 100_000 } })], [job({ tasks: 5 })], (_p, call) => {
      const first = h.plans[call - 1]?.[0];
      return _p === first ? null : "insufficient_resources";
    });
    const stats = await h.run({ ...batchProfile, maxAttempts: 2 });
    expect(h.committed.size).toBe(5);
    expect(h.plans).toHaveLength(5);
    expect(stats.parked).toBe(0);
  });

  it("parks a job that fits nowhere with its explanation, and parks it again if capacity changed meanwhile", async () => {
    const h = harness([machine({ capacity: { cpu: 500 } })], [job({ tasks: 1 })], () => null);
    h.queue.parkAnswers.push(true);
    expect((await h.run()).parked).toBe(1);
    expect(h.parked.map((p) => p.reason)).toEqual(["0/1 machines fit: 1 insufficient cpu"]);
  });

  it("gives a job back to be leased again in fair-share order when capacity changed before it was parked", async () => {
    const only = job({ tasks: 1 });
    const h = harness([machine({ capacity: { cpu: 500 } })], [only], () => null);
    h.queue.parkAnswers.push(false); // the epoch moved: park_job gave the lease back
    const stats = await h.run();
    expect(h.plans).toHaveLength(0);
    expect(h.parked).toHaveLength(1);
    expect(stats.parked).toBe(0);
    // Not planned again while this worker held it, nor released twice: forgotten, as a parked job.
    expect(h.forgotten).toContain(only.id);
    expect(h.released).toEqual([]);
    // Leasable again with no wake-up to say so: the same evaluation leases again.
    expect(h.leases()).toBe(2);
  });

  it("does not park a lender that saw borrowed work it may reclaim: it retries, then backs off", async () => {
    const m = machine({ capacity: { cpu: 4000 }, used: { cpu: 4000 } });
    const lender = () =>
      job({
        tasks: 1,
        tenantId: 7,
        quota: { key: "7:batch", band: "batch", free: { cpu: 0, memory: 0, gpu: 0, disk: 0 } },
      });
    const victim = {
      taskId: 50,
      jobId: 500,
      priority: 150,
      request: { cpu: 1000, memory: 0, gpu: 0, disk: 0 },
      gangMin: null,
      jobClaims: 1,
      tenantId: 9,
    };
    const zero = { cpu: 0, memory: 0, gpu: 0, disk: 0 };
    const run = async (borrowed: boolean) => {
      const h = harness([m], [lender()], () => null);
      await evaluate({
        profile: { ...batchProfile, maxAttempts: 1 },
        snapshot: h.snapshot,
        committer: { commit: async () => [] },
        queue: h.queue,
        evaluationId: "eval-1",
        sleep: async () => {},
        victims: {
          on: async () => new Map(),
          // In sight, but a member's borrowing this plan cannot use (here: all taken already).
          reclaimable: async () =>
            borrowed
              ? {
                  nominalFree: { ...zero, cpu: 4000 },
                  borrowed: new Map([[9, zero]]),
                  victimsOn: new Map([[m.id, [victim]]]),
                }
              : null,
        },
      });
      return h;
    };
    const inSight = await run(true);
    expect(inSight.parked).toEqual([]);
    expect(inSight.deferred).toHaveLength(1);
    // With no borrowed work in sight it parks, to be woken when a member starts borrowing.
    expect((await run(false)).parked).toHaveLength(1);
  });

  it("asks another worker to join when the lease came back full", async () => {
    const profile = { ...batchProfile, batchSize: 2 };
    const h = harness([machine()], [job(), job()], () => null);
    await h.run(profile);
    expect(h.shared()).toBe(1);
    // A backlog may be left: lease again.
    expect(h.leases()).toBe(2);
  });

  it("replays: the same evaluation on the same state makes the same plan", async () => {
    const machines = Array.from({ length: 50 }, () => machine());
    const plan = async () => {
      const h = harness(machines, [job({ id: 900, tasks: 20 })], () => null);
      await h.run();
      return h.plans[0];
    };
    expect(await plan()).toEqual(await plan());
  });

  it("spends the profile's decision time per planned job, t_job + t_task × tasks (Omega's §5)", async () => {
    const profile = { ...batchProfile, decisionTime: { jobMs: 10, taskMs: 5 } };
    const h = harness(
      [machine(), machine()],
      [job({ tasks: 3 }), job({ tasks: 1, pendingTaskIds: [10] })],
      () => null,
    );
    await h.run(profile);
    expect(h.slept).toEqual([25, 15]);
    expect(h.plans).toHaveLength(1);
  });

  it(`commits what it decided once a round has planned for ${ROUND_PLANNING_MS} ms, and plans the rest while that commit is under way`, async () => {
    const profile = { ...batchProfile, decisionTime: { jobMs: 30, taskMs: 0 } };
    const jobs = [
      job({ tasks: 1, pendingTaskIds: [1] }),
      job({ tasks: 1, pendingTaskIds: [2] }),
      job({ tasks: 1, pendingTaskIds: [3] }),
    ];
    const h = harness([machine(), machine()], jobs, () => null);
    const stats = await h.run(profile);
    // 30 ms after the first job the round goes on; at 60 it commits the two it decided.
    expect(h.plans.map((plan) => plan.map((p) => p.taskId))).toEqual([[1, 2], [3]]);
    // The third job is planned on the snapshot the first two were, not a fresh one.
    expect(h.snapshot.syncs).toBe(1);
    // No jitter: nothing collided.
    expect(h.slept).toEqual([30, 30, 30]);
    expect(stats).toMatchObject({ plans: 2, committed: 3, deferred: 0 });
    expect(h.forgotten.sort()).toEqual(jobs.map((j) => j.id).sort());
  });

  it("decides the next jobs while the previous commit is answered, and sends one commit at a time", async () => {
    const profile = { ...batchProfile, decisionTime: { jobMs: 30, taskMs: 0 } };
    const jobs = [1, 2, 3, 4, 5].map((id) => job({ tasks: 1, pendingTaskIds: [id] }));
    const events: string[] = [];
    const h = harness([machine(), machine()], jobs, () => null);
    const commit = h.committer.commit.bind(h.committer);
    h.committer.commit = async (placements) => {
      const ids = placements.map((p) => p.taskId).join(",");
      events.push(`commit ${ids}`);
      // Answered a macrotask later: every decision the loop can make meanwhile comes first.
      await new Promise((resolve) => setTimeout(resolve, 0));
      events.push(`answered ${ids}`);
      return commit(placements);
    };
    h.onSleep((ms) => events.push(`decide ${ms}`));
    await h.run(profile);
    expect(events).toEqual([
      "decide 30",
      "decide 30",
      "commit 1,2",
      "decide 30",
      "decide 30",
      "answered 1,2",
      "commit 3,4",
      "decide 30",
      "answered 3,4",
      "commit 5",
      "answered 5",
    ]);
  });

  it("fails, and gives back every lease it holds, when a commit fails while the next round decides", async () => {
    const profile = { ...batchProfile, decisionTime: { jobMs: 30, taskMs: 0 } };
    const jobs = [1, 2, 3, 4].map((id) => job({ tasks: 1, pendingTaskIds: [id] }));
    const h = harness([machine(), machine()], jobs, () => null);
    h.committer.commit = async () => {
      throw new Error("the database went away");
    };
    // Deciding takes real time here: the failed commit's rejection waits through it.
    h.onSleep(() => new Promise((resolve) => setTimeout(resolve, 5)));
    await expect(h.run(profile)).rejects.toThrow("the database went away");
    expect(h.released.sort()).toEqual(jobs.map((j) => j.id).sort());
  });

  it("plans the next jobs with the placements of the commit under way overlaid", async () => {
    // Two slots: the first round takes both, so the carried job fits nowhere and parks once that
    // commit held — it was not planned onto the slots the commit under way was filling.
    const profile = { ...batchProfile, decisionTime: { jobMs: 30, taskMs: 0 } };
    const jobs = [1, 2, 3].map((id) => job({ tasks: 1, pendingTaskIds: [id] }));
    const h = harness([machine({ capacity: { cpu: 2000 } })], jobs, () => null);
    const stats = await h.run(profile);
    expect(h.plans.map((plan) => plan.map((p) => p.taskId))).toEqual([[1, 2]]);
    expect(h.parked.map((p) => p.jobId)).toEqual([jobs[2]?.id]);
    expect(stats).toMatchObject({ committed: 2, parked: 1 });
  });

  it("does not park a carried job on an explanation that counted a commit under way which was then refused", async () => {
    const profile = { ...batchProfile, decisionTime: { jobMs: 30, taskMs: 0 } };
    const jobs = [1, 2, 3].map((id) => job({ tasks: 1, pendingTaskIds: [id] }));
    // The first commit loses task 1: the slot it took in the overlay was free after all.
    const h = harness([machine({ capacity: { cpu: 2000 } })], jobs, (p, call) =>
      call === 1 && p.taskId === 1 ? "insufficient_resources" : null,
    );
    await h.run(profile);
    // Job 3 is planned again on a fresh snapshot (with job 1), not parked on a wrong explanation.
    expect(h.parked.filter((p) => p.jobId === jobs[2]?.id && p.afterPlans === 1)).toEqual([]);
    expect(h.snapshot.syncs).toBe(2);
  });

  it("plans the jobs it carried over before those it retries, and counts no fruitless round for them", async () => {
    const profile = { ...batchProfile, maxAttempts: 2, decisionTime: { jobMs: 60, taskMs: 0 } };
    const jobs = [1, 2, 3].map((id) => job({ tasks: 1, pendingTaskIds: [id] }));
    // Each round plans one job (60 ms); the first job's first placement is refused.
    const h = harness([machine(), machine()], jobs, (_p, call) =>
      call === 1 ? "insufficient_resources" : null,
    );
    const stats = await h.run(profile);
    // Job 3, carried over twice, was never planned in vain: it is placed, not deferred.
    expect(h.plans.map((plan) => plan.map((p) => p.taskId))).toEqual([[1], [2], [3], [1]]);
    expect(stats).toMatchObject({ committed: 3, rejected: 1, deferred: 0 });
  });

  it("spends no decision time without one in the profile", async () => {
    const h = harness([machine()], [job({ tasks: 2 })], () => null);
    await h.run();
    expect(h.slept).toEqual([]);
  });
});

describe("commitChunks", () => {
  const plan = (n: number, first: number) => ({
    placements: Array.from({ length: n }, (_, i) => ({ taskId: first + i, machineId: 1, machineVersion: 1 })),
    unplaced: 0,
    explanation: null,
  });
  const jobs = [job({ tasks: 1 }), job({ tasks: 1 }), job({ tasks: 1 }), job({ tasks: 1 })];
  const sizes = (chunks: { length: number }[]) => chunks.map((c) => c.length);

  it("fills commits up to the size, never splitting a job, and lets a bigger job go alone", () => {
    const plans = new Map([
      [jobs[0]!.id, plan(3, 0)],
      [jobs[1]!.id, plan(2, 10)],
      [jobs[2]!.id, plan(7, 20)],
      [jobs[3]!.id, plan(0, 30)],
    ]);
    expect(sizes(commitChunks(jobs, plans, 5))).toEqual([5, 7]);
    expect(sizes(commitChunks(jobs, plans, 4))).toEqual([3, 2, 7]);
    expect(sizes(commitChunks(jobs, plans, Number.POSITIVE_INFINITY))).toEqual([12]);
    expect(commitChunks(jobs, new Map(), 5)).toEqual([]);
  });
});

describe("races (machine_busy, victim_gone)", () => {
  it.each(["machine_busy", "victim_gone"])(
    "rounds lost only to %s are retried four times as often before backing off",
    async (reason) => {
      const jobs = [job({ tasks: 1 })];
      const h = harness([machine()], jobs, () => reason);
      const stats = await h.run({ ...batchProfile, maxAttempts: 2 });
      expect(h.plans).toHaveLength(8);
      expect(stats).toMatchObject({ deferred: 1, parked: 0 });
    },
  );

  it("a round that also lost a placement to a real refusal counts whole", async () => {
    const jobs = [job({ tasks: 2 })];
    const h = harness([machine(), machine()], jobs, (p) =>
      p.taskId % 2 ? "victim_gone" : "insufficient_resources",
    );
    await h.run({ ...batchProfile, maxAttempts: 2 });
    expect(h.plans).toHaveLength(2);
  });
});
