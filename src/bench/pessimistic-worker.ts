import { randomUUID } from "node:crypto";
import { createPool } from "../db/pool.ts";
import {
  commitPlan,
  leaseJobs,
  loadJobViews,
  parkJob,
  registerScheduler,
  releaseLeases,
} from "../db/scheduling.ts";
import { MACHINE_COLUMNS, type MachineRow, toMachineView } from "../db/snapshot.ts";
import { formatExplanation, InFlight, mulberry32, planJob, seedFrom } from "../placement/index.ts";
import type { Placement } from "../placement/types.ts";
import { loadProfile } from "../scheduler/profile-config.ts";

export interface PessimisticTotals {
  plans: number;
  committed: number;
  /** Locking and reading the machines (SELECT … FOR UPDATE), plan and commit, in ms. */
  lockMs: number;
  planMs: number;
  commitMs: number;
}

/**
 * The pessimistic baseline: one scheduler that, for every plan, locks the machines it reads with
 * SELECT … FOR UPDATE and holds them until its commit — the alternative to optimistic concurrency
 * the Omega paper contrasts. Everything else is the real system's: the same lease, the same
 * planJob and profile, the same omega.commit_plan (which here never finds a conflict).
 *
 * The planner's candidate walk can reach any machine of the cell (and a batch of thousands of
 * tasks does reach most of them), so the machines it reads are the cell: each plan locks them all,
 * in id order like every writer. One process is one scheduler; the bench starts as many as the
 * optimistic run has workers, and they really run at once — they just wait for each other.
 */
export async function startPessimisticWorker(options: {
  url: string;
  cell: string;
  scheduler: string;
  profiles?: string;
}): Promise<{ stop(): Promise<void> }> {
  const profile = await loadProfile(options.scheduler, options.profiles);
  const owner = `pessimistic@${process.pid}:${randomUUID().slice(0, 8)}`;
  const pool = createPool(options.url, { max: 1, name: "omega-pessimistic" });
  const client = await pool.connect();
  // So that jobs may name it (a profile from --profiles is new to the database).
  await registerScheduler(client, profile.name, profile);
  const totals: PessimisticTotals = { plans: 0, committed: 0, lockMs: 0, planMs: 0, commitMs: 0 };
  let stopping = false;
  const loop = (async () => {
    for (let round = 0; !stopping; round++) await planOnce(round);
  })();
  process.stdout.write("ready\n");
  return {
    async stop() {
      stopping = true;
      await loop;
      client.release();
      await pool.end();
      process.stdout.write(`${JSON.stringify(totals)}\n`);
    },
  };

  async function planOnce(round: number): Promise<void> {
    await client.query("begin");
    const leased = await leaseJobs(client, {
      cell: options.cell,
      scheduler: profile.name,
      owner,
      limit: profile.batchSize,
      leaseSeconds: 60,
    });
    if (leased.length === 0) {
      await client.query("commit");
      await new Promise((r) => setTimeout(r, 2));
      return;
    }
    let t = performance.now();
    const { rows } = await client.query<MachineRow>(
      `select ${MACHINE_COLUMNS} from omega.machines where cell = $1 order by id for update`,
      [options.cell],
    );
    const machines = rows.map(toMachineView);
    totals.lockMs += performance.now() - t;

    t = performance.now();
    const jobs = await loadJobViews(client, options.cell, leased);
    const random = mulberry32(seedFrom(owner, 0, round));
    const inflight = new InFlight();
    const placements: Placement[] = [];
    const unplaced = new Map<number, string>();
    for (const job of jobs) {
      const plan = planJob(machines, job, profile, inflight, random);
      placements.push(...plan.placements);
      if (plan.explanation) unplaced.set(job.id, formatExplanation(plan.explanation));
      // Omega's decision time, as the optimistic loop spends it — here with the machines locked.
      const think = profile.decisionTime;
      if (think) await new Promise((r) => setTimeout(r, think.jobMs + think.taskMs * plan.placements.length));
    }
    totals.planMs += performance.now() - t;

    t = performance.now();
    const outcomes = await commitPlan(client, {
      cell: options.cell,
      scheduler: profile.name,
      worker: owner,
      placements,
      transactionMode: profile.transactionMode,
      conflictMode: profile.conflictMode,
    });
    // Under the locks nothing can conflict: what did not fit fits nowhere, so it is parked.
    for (const [jobId, reason] of unplaced)
      await parkJob(client, { cell: options.cell, jobId, owner, seenEpoch: Number.MAX_SAFE_INTEGER, reason });
    await releaseLeases(
      client,
      options.cell,
      leased.map((j) => j.id),
      owner,
    );
    await client.query("commit");
    totals.commitMs += performance.now() - t;
    totals.plans++;
    totals.committed += outcomes.filter((o) => o.outcome === "committed").length;
  }
}
