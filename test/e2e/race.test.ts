import { afterEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { invariantViolations, schedulableButPending } from "../support/invariants.ts";
import type { OmegaProcess } from "../support/processes.ts";
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
 * The race: four worker processes (two batch, two service; or one each and two flow) against one
 * small, nearly full cell, with a random workload arriving over several connections and
 * cancellations in flight. At the
 * end SQL over the base tables proves every invariant and that every schedulable task is placed —
 * and conflicts must have happened, or the race proved nothing. Replay a failure with RACE_SEED.
 */

const SEED = Number(process.env.RACE_SEED ?? Date.now() % 1_000_000);

/** The built-in policies, in the conflict and transaction mode under test. */
const TWO_EACH = ["batch", "service", "batch", "service"];
const MODES = [
  { mode: "fine, incremental", profiles: raceProfiles(), schedulers: TWO_EACH, flow: false },
  {
    mode: "coarse, incremental",
    profiles: raceProfiles({ conflictMode: "coarse" }),
    schedulers: TWO_EACH,
    flow: false,
  },
  {
    mode: "fine, all-or-nothing",
    profiles: raceProfiles({ transactionMode: "all-or-nothing" }),
    schedulers: TWO_EACH,
    flow: false,
  },
  // The min-cost-flow scheduler (issue 16) against one of each: a third of the jobs name it.
  {
    mode: "fine, incremental, flow racing",
    profiles: raceProfiles(),
    schedulers: ["batch", "service", "flow", "flow"],
    flow: true,
  },
];

let db: TestDatabase | undefined;
let workers: OmegaProcess[] = [];
afterEach(async () => {
  await stopAll(workers);
  workers = [];
  await db?.drop();
  db = undefined;
});

describe("race", () => {
  it.each(MODES)(
    "$mode: no invariant breaks, every schedulable task is placed, conflicts happen",
    async ({ mode, profiles, schedulers, flow }) => {
      const workload = raceWorkload(SEED, { flow });
      const context = `${mode}, ${describeWorkload(workload)} (replay: RACE_SEED=${SEED})`;
      db = await createTestDatabase();
      await createRaceCell(db.pool, workload);
      workers = await startWorkers(db.url, schedulers, await profilesFile(profiles));

      const violationsDuringRace = await runWorkload(db.pool, workload);
      await waitQuiescent(db.pool, 40_000, context);
      await stopAll(workers);

      const stats = await conflictStats(db.pool);
      const { parked, deferred } = evaluationTotals(workers);
      console.log(`${formatConflicts(context, stats)}\n  jobs parked ${parked}, backed off ${deferred}`);
      expect(violationsDuringRace, context).toEqual([]);
      expect(await invariantViolations(db.pool), context).toEqual([]);
      expect(await schedulableButPending(db.pool), context).toEqual([]);
      const placed = await db.pool.query("select count(*)::int as n from omega.claims");
      expect(placed.rows[0].n, context).toBeGreaterThan(0);
      expect(
        stats.reduce((sum, s) => sum + s.conflicts, 0),
        `${context}: a race without conflicts proves nothing`,
      ).toBeGreaterThan(0);
    },
    // A deadline for a stuck run to fail with its own message (waitQuiescent's); runs take ~10 s.
    100_000,
  );
});
