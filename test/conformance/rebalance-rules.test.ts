/**
 * One rule, one verdict, for the rules of a move: the planner (src/rebalance/rules.ts) and
 * omega.commit_move both apply them. Each case is run through the TypeScript rule and through a
 * real commit of a move, and both must agree: a planner that proposes what the commit refuses
 * wastes every period; one that never proposes what the commit allows never rebalances.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { moveCommit } from "../../src/db/queries/move-commit.ts";
import { disruptionAllows, mayMoveFor } from "../../src/rebalance/rules.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  allowAnyPriority,
  commitPlan,
  emptyState,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

type Machine = { id: number; name: string; version: number };
let a: Machine;
let b: Machine;

beforeEach(async () => {
  await emptyState(db.pool);
  await db.pool.query("truncate omega.moves");
  await makeCell(db.pool);
  await makeTenant(db.pool);
  await allowAnyPriority(db.pool);
  a = await makeMachine(db.pool, { name: "a", cpu: 16000, memory: 16384 });
  b = await makeMachine(db.pool, { name: "b", cpu: 16000, memory: 16384 });
});

async function placeOn(machine: Machine, spec: Record<string, unknown>): Promise<number[]> {
  const job = await submitJob(db.pool, { resources: { cpu: 1000, memory: 1 }, ...spec });
  const tasks = await pendingTaskIds(db.pool, job);
  await commitPlan(
    db.pool,
    tasks.map((taskId) => ({ taskId, machineId: machine.id, version: machine.version })),
  );
  return tasks;
}

const move = (taskId: number, forJob: number | null = null) =>
  moveCommit(db.pool, {
    cell: "east",
    scheduler: "rebalance",
    worker: "conformance",
    move: { taskId, from: a.id, to: b.id, forJob, strategy: "conformance" },
  });

const PRIORITIES: [number, number][] = [
  [50, 150],
  [150, 150],
  [199, 150],
  [150, 250],
  [250, 150],
  [250, 250],
  [300, 250],
  [0, 0],
];

describe("a move made to make room for a job: the priority rule", () => {
  for (const [moved, forJob] of PRIORITIES) {
    it(`priority ${moved} moved for a job of priority ${forJob}`, async () => {
      const [task] = (await placeOn(a, { priority: moved })) as [number];
      const beneficiary = await submitJob(db.pool, {
        priority: forJob,
        resources: { cpu: 99000, memory: 1 },
      });
      const outcome = await move(task, beneficiary);
      const sql = outcome.outcome === "moved" ? true : outcome.reason === "priority" ? false : outcome.reason;
      expect(sql).toBe(mayMoveFor(moved, forJob));
    });
  }
});

/** [maxUnavailable, tasks already moved while running and not running again, task running]. */
const BUDGETS: [number | null, number, boolean][] = [
  [null, 0, true],
  [null, 3, true],
  [0, 0, true],
  [0, 0, false],
  [1, 0, true],
  [1, 1, true],
  [1, 1, false],
  [2, 1, true],
  [2, 2, true],
];

describe("a job's disruption budget", () => {
  for (const [maxUnavailable, unavailable, running] of BUDGETS) {
    it(`maxUnavailable ${maxUnavailable}, ${unavailable} away, moving a ${running ? "running" : "placed"} task`, async () => {
      const budget = maxUnavailable === null ? {} : { disruptionBudget: { maxUnavailable: unavailable } };
      const tasks = await placeOn(a, { tasks: unavailable + 1, ...budget });
      for (const t of tasks) await db.pool.query("select omega.report_task('east', 'a', $1, 'running')", [t]);
      // Take `unavailable` tasks away (the budget allows exactly that many), then set the real budget.
      for (const t of tasks.slice(0, unavailable)) expect((await move(t)).outcome).toBe("moved");
      await db.pool.query("update omega.jobs set max_unavailable = $1", [maxUnavailable]);
      const last = tasks[unavailable] as number;
      if (!running) {
        // A placed task that never ran: its claim is re-made, as a task placed but not yet started.
        await db.pool.query("update omega.tasks set state = 'placed' where id = $1", [last]);
      }
      const outcome = await move(last);
      const sql =
        outcome.outcome === "moved" ? true : outcome.reason === "disruption_budget" ? false : outcome.reason;
      expect(sql).toBe(disruptionAllows(maxUnavailable, unavailable, running));
    });
  }
});
