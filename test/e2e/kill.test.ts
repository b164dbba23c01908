import { afterAll, expect, it } from "vitest";
import type { Pool } from "../../src/db/pool.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { invariantViolations, schedulableButPending } from "../support/invariants.ts";
import { type OmegaProcess, waitFor } from "../support/processes.ts";
import {
  conflictStats,
  createRaceCell,
  evaluationTotals,
  formatConflicts,
  profilesFile,
  raceProfiles,
  runWorkload,
  startWorkers,
  stopAll,
  waitQuiescent,
} from "../support/race-driver.ts";
import { describeWorkload, raceWorkload } from "../support/race-workload.ts";

/**
 * The kill test: in the middle of a race, SIGKILL a worker process that holds leases on pending
 * jobs (it is planning them, perhaps committing). Its commit is atomic, so nothing partial may be
 * left; its leases lapse without their heartbeat and the others — and a replacement, as a
 * supervisor would start — finish all the work. Replay a failure with RACE_SEED.
 */

const SEED = Number(process.env.RACE_SEED ?? Date.now() % 1_000_000);

let db: TestDatabase | undefined;
let workers: OmegaProcess[] = [];
afterAll(async () => {
  await stopAll(workers);
  await db?.drop();
});

interface Kill {
  victim: OmegaProcess;
  owner: string;
  /** The pending jobs it held when it died: the work the others must take over. */
  orphaned: number[];
  at: number;
}

/**
 * Waits for a live worker holding leases on pending jobs, freezes it (SIGSTOP), lets any statement
 * it already sent finish — a commit it started may still place those jobs — and SIGKILLs it if it
 * still holds pending work; otherwise thaws it (SIGCONT) and keeps looking. So the victim really
 * dies in the middle of its work, and we know exactly which jobs it leaves behind.
 */
async function killOneHoldingLeases(pool: Pool, candidates: readonly OmegaProcess[]): Promise<Kill> {
  return waitFor(
    async () => {
      const { rows } = await pool.query<{ owner: string }>(
        "select distinct lease_owner as owner from omega.jobs where state = 'pending' and lease_expires > now()",
      );
      for (const { owner } of rows) {
        // Owners are "<scheduler>@<host>:<pid>:<random>".
        const pid = Number(owner.split(":").at(-2));
        const victim = candidates.find((w) => w.child.pid === pid && w.child.exitCode === null);
        if (!victim?.child.kill("SIGSTOP")) continue;
        let orphaned: number[] = [];
        try {
          orphaned = await leasedPendingAfterCommits(pool, owner);
        } finally {
          // Never leave a worker frozen: a frozen process cannot even be stopped.
          if (orphaned.length === 0) victim.child.kill("SIGCONT");
        }
        if (orphaned.length > 0 && victim.child.kill("SIGKILL")) {
          return { victim, owner, orphaned, at: Date.now() };
        }
      }
      return undefined;
    },
    20_000,
    "a worker holding leases on pending jobs",
  );
}

/** The pending jobs `owner` leases, read at a moment when no commit is running in the database. */
async function leasedPendingAfterCommits(pool: Pool, owner: string): Promise<number[]> {
  await waitFor(
    async () => {
      const { rows } = await pool.query(
        `select count(*)::int as n from pg_stat_activity
         where datname = current_database() and state = 'active' and query like '%omega.commit_plan%'
           and pid <> pg_backend_pid()`,
      );
      return rows[0].n === 0;
    },
    10_000,
    "a moment with no commit running",
  );
  const { rows } = await pool.query<{ id: number }>(
    "select id from omega.jobs where state = 'pending' and lease_owner = $1 order by id",
    [owner],
  );
  return rows.map((r) => r.id);
}

it("a worker SIGKILLed mid-race leaves nothing partial, and the others take over its work", async () => {
  const workload = raceWorkload(SEED);
  const context = `kill, ${describeWorkload(workload)} (replay: RACE_SEED=${SEED})`;
  db = await createTestDatabase();
  const pool = db.pool;
  await createRaceCell(pool, workload);
  const profiles = await profilesFile(raceProfiles());
  workers = await startWorkers(db.url, ["batch", "service", "batch", "service"], profiles);
  const racing = runWorkload(pool, workload);

  const { victim, owner, orphaned, at } = await killOneHoldingLeases(pool, workers);
  await victim.exited;
  // A supervisor would start a replacement; the survivors must not need it, but it must fit in.
  const replacement = startWorkers(db.url, [owner.split("@")[0]!], profiles);

  // Pickup: every job the dead worker held is leased by another worker, or no longer pending.
  await waitFor(
    async () => {
      const { rows } = await pool.query(
        "select count(*)::int as n from omega.jobs where id = any($1) and state = 'pending' and lease_owner = $2",
        [orphaned, owner],
      );
      return rows[0].n === 0;
    },
    30_000,
    `the ${orphaned.length} jobs of the killed worker to be taken over`,
  );
  const pickupMs = Date.now() - at;

  workers.push(...(await replacement));
  const violationsDuringRace = await racing;
  await waitQuiescent(pool, 40_000, context);
  await stopAll(workers);

  console.log(
    `${formatConflicts(context, await conflictStats(pool))}\n` +
      `  killed ${owner} leaving ${orphaned.length} leased pending jobs; ` +
      `taken over ${(pickupMs / 1000).toFixed(1)} s after the kill; jobs backed off ${evaluationTotals(workers).deferred}`,
  );
  expect(violationsDuringRace, context).toEqual([]);
  expect(await invariantViolations(pool), context).toEqual([]);
  expect(await schedulableButPending(pool), context).toEqual([]);
}, 120_000); // a deadline for the waits above to fail with their own messages; a run takes ~10 s
