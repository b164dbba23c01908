/**
 * Drains honour disruption budgets (0200), as `kubectl drain` honours PodDisruptionBudgets: before
 * the deadline, a budgeted job's running tasks leave the drained machine only while fewer than
 * maxUnavailable of them are away (evicted and not running again); tasks that are not running and
 * jobs without a budget leave at once; at the deadline everything left goes. Drives
 * omega.enforce_machine directly, as the queued job and the maintenance sweep do.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { moveCommit } from "../../src/db/queries/move-commit.ts";
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
import { invariantViolations } from "../support/invariants.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

type Machine = { id: number; name: string; version: number };
let a: Machine;
let b: Machine;

/** Submits a job and places all its tasks on `machine`, running unless told otherwise. */
async function runningOn(machine: Machine, spec: Record<string, unknown>, run = true) {
  const job = await submitJob(db.pool, { resources: { cpu: 500, memory: 1 }, ...spec });
  const tasks = await pendingTaskIds(db.pool, job);
  const out = await commitPlan(
    db.pool,
    tasks.map((taskId) => ({ taskId, machineId: machine.id, version: machine.version })),
  );
  expect(out.every((o) => o.outcome === "committed")).toBe(true);
  if (run) for (const t of tasks) await setRunning(t, machine);
  return { job, tasks };
}

async function setRunning(taskId: number, machine: Machine) {
  await db.pool.query("select omega.report_task('east', $1, $2, 'running')", [machine.name, taskId]);
}

/** Runs the drain once (as the queued job would); returns how many left and when it asks to run again. */
async function enforce(): Promise<{ evicted: number; again: boolean }> {
  const { rows } = await db.pool.query("select * from omega.enforce_machine('east', $1)", [a.id]);
  return { evicted: rows[0].evicted, again: rows[0].next_due !== null };
}

async function onA(job: number): Promise<number[]> {
  const { rows } = await db.pool.query(
    "select task_id from omega.claims where job_id = $1 and machine_id = $2 order by task_id",
    [job, a.id],
  );
  return rows.map((r) => Number(r.task_id));
}

async function unavailable(job: number): Promise<number> {
  const { rows } = await db.pool.query("select omega.job_unavailable('east', $1) as n", [job]);
  return rows[0].n;
}

/** Places the task (evicted by the drain) on b: placed, not running yet. */
async function placeOnB(taskId: number) {
  const [fresh] = (await db.pool.query("select version from omega.machines where id = $1", [b.id])).rows;
  const out = await commitPlan(db.pool, [{ taskId, machineId: b.id, version: fresh.version }]);
  expect(out[0]?.outcome).toBe("committed");
}

describe("drain with disruption budgets", () => {
  beforeEach(async () => {
    await emptyState(db.pool);
    await db.pool.query("truncate omega.events, omega.moves");
    await makeCell(db.pool);
    await makeTenant(db.pool);
    await allowAnyPriority(db.pool);
    a = await makeMachine(db.pool, { name: "a", cpu: 8000, memory: 8192 });
    b = await makeMachine(db.pool, { name: "b", cpu: 8000, memory: 8192 });
  });

  it("before the deadline, evicts a budgeted job's running tasks one budget at a time; the rest at once", async () => {
    const budgeted = await runningOn(a, { tasks: 3, disruptionBudget: { maxUnavailable: 1 } });
    const free = await runningOn(a, { tasks: 2 });
    const idle = await runningOn(a, { tasks: 1, disruptionBudget: { maxUnavailable: 0 } }, false);
    await db.pool.query("select omega.drain_machine('east', 'a', '1 hour')");

    // The unbudgeted job and the task that was not running leave; one of the budgeted three.
    expect(await enforce()).toEqual({ evicted: 2 + 1 + 1, again: true });
    expect(await onA(free.job)).toEqual([]);
    expect(await onA(idle.job)).toEqual([]);
    expect(await onA(budgeted.job)).toHaveLength(2);
    expect(await unavailable(budgeted.job)).toBe(1);
    const { rows: view } = await db.pool.query(
      "select unavailable, max_unavailable from omega.disruption where job_id = $1",
      [budgeted.job],
    );
    expect(view).toEqual([{ unavailable: 1, max_unavailable: 1 }]);

    // Placed again elsewhere but not running yet: still away, nothing more leaves.
    const [gone] = (await pendingTaskIds(db.pool, budgeted.job)) as [number];
    expect(await enforce()).toEqual({ evicted: 0, again: true });
    await placeOnB(gone);
    expect(await enforce()).toEqual({ evicted: 0, again: true });

    // Running again: the budget has room for the next one.
    await setRunning(gone, b);
    expect(await unavailable(budgeted.job)).toBe(0);
    expect(await enforce()).toEqual({ evicted: 1, again: true });
    expect(await onA(budgeted.job)).toHaveLength(1);
    expect(await invariantViolations(db.pool)).toEqual([]);
  });

  it("at the deadline, everything left goes whatever the budget", async () => {
    const budgeted = await runningOn(a, { tasks: 3, disruptionBudget: { maxUnavailable: 1 } });
    const zero = await runningOn(a, { tasks: 1, disruptionBudget: { maxUnavailable: 0 } });
    await db.pool.query("select omega.drain_machine('east', 'a', '1 hour')");
    expect(await enforce()).toEqual({ evicted: 1, again: true });
    expect(await onA(zero.job)).toHaveLength(1);

    await db.pool.query(
      "update omega.machines set drain_deadline = now() - interval '1 second' where id = $1",
      [a.id],
    );
    expect(await enforce()).toEqual({ evicted: 3, again: false });
    expect(await onA(budgeted.job)).toEqual([]);
    expect(await onA(zero.job)).toEqual([]);
    const { rows } = await db.pool.query(
      "select count(*)::int as n from omega.events where kind = 'returned' and reason = 'drain'",
    );
    expect(rows[0].n).toBe(4);
  });

  it("a budgeted gang leaves whole or, past its budget, not at all before the deadline", async () => {
    const gang = await runningOn(a, {
      tasks: 3,
      gang: { minAvailable: 3 },
      disruptionBudget: { maxUnavailable: 1 },
    });
    const wide = await runningOn(a, {
      tasks: 2,
      gang: { minAvailable: 2 },
      disruptionBudget: { maxUnavailable: 2 },
    });
    await db.pool.query("select omega.drain_machine('east', 'a', '1 hour')");
    expect(await enforce()).toEqual({ evicted: 2, again: true });
    expect(await onA(wide.job)).toEqual([]);
    expect(await onA(gang.job)).toHaveLength(3);
    expect(await invariantViolations(db.pool)).toEqual([]);
  });

  it("a rebalancer's move and a drain share one budget", async () => {
    const budgeted = await runningOn(a, { tasks: 2, disruptionBudget: { maxUnavailable: 1 } });
    await db.pool.query("select omega.drain_machine('east', 'a', '1 hour')");
    expect(await enforce()).toEqual({ evicted: 1, again: true });
    const [left] = (await onA(budgeted.job)) as [number];
    const moved = await moveCommit(db.pool, {
      cell: "east",
      scheduler: "rebalance",
      worker: "test",
      move: { taskId: left, from: a.id, to: b.id, strategy: "test" },
    });
    expect(moved).toMatchObject({ outcome: "rejected", reason: "disruption_budget" });
  });
});
