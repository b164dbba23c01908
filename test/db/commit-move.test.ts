import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type MoveProposal, moveCommit } from "../../src/db/queries/move-commit.ts";
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

/** Submits a job and places all its tasks on `machine`; returns the job and its task ids. */
async function placed(machine: Machine, spec: Record<string, unknown> = {}) {
  const job = await submitJob(db.pool, { tasks: 1, resources: { cpu: 1000, memory: 1 }, ...spec });
  const tasks = await pendingTaskIds(db.pool, job);
  const out = await commitPlan(
    db.pool,
    tasks.map((taskId) => ({ taskId, machineId: machine.id, version: machine.version })),
  );
  expect(out.every((o) => o.outcome === "committed")).toBe(true);
  return { job, tasks };
}

function move(taskId: number, from: Machine, to: Machine, extra: Partial<MoveProposal> = {}) {
  return moveCommit(db.pool, {
    cell: "east",
    scheduler: "rebalance",
    worker: "test",
    move: { taskId, from: from.id, to: to.id, strategy: "test", ...extra },
  });
}

async function claimedOn(taskId: number): Promise<number | undefined> {
  const { rows } = await db.pool.query("select machine_id from omega.claims where task_id = $1", [taskId]);
  return rows[0]?.machine_id;
}

async function setRunning(taskId: number, machine: Machine) {
  await db.pool.query("select omega.report_task('east', $1, $2, 'running')", [machine.name, taskId]);
}

describe("omega.commit_move", () => {
  let a: Machine;
  let b: Machine;
  beforeEach(async () => {
    await emptyState(db.pool);
    await db.pool.query("truncate omega.moves, omega.events");
    await db.pool.query(
      "update omega.schedulers set profile = '{\"kind\": \"rebalance\"}' where name = 'rebalance'",
    );
    await makeCell(db.pool);
    await makeTenant(db.pool);
    await allowAnyPriority(db.pool);
    a = await makeMachine(db.pool, { name: "a", cpu: 4000, memory: 8192, labels: { zone: "x" } });
    b = await makeMachine(db.pool, { name: "b", cpu: 4000, memory: 8192, labels: { zone: "y" } });
  });

  it("takes the claim off one machine and places the task on the other, in one transaction", async () => {
    const { job, tasks } = await placed(a);
    const [t] = tasks as [number];
    await setRunning(t, a);
    expect(await move(t, a, b)).toEqual({ taskId: t, from: a.id, to: b.id, outcome: "moved", reason: null });
    expect(await claimedOn(t)).toBe(b.id);
    const { rows: machines } = await db.pool.query(
      "select name, used_cpu, tasks from omega.machines order by name",
    );
    expect(machines).toEqual([
      { name: "a", used_cpu: 0, tasks: 0 },
      { name: "b", used_cpu: 1000, tasks: 1 },
    ]);
    const { rows: task } = await db.pool.query("select state, reason from omega.tasks where id = $1", [t]);
    expect(task[0]).toEqual({ state: "placed", reason: "moved from a" });
    const { rows: events } = await db.pool.query(
      "select kind, machine, reason from omega.events where task_id = $1 and kind in ('moved', 'placed', 'returned', 'preempted') order by id",
      [t],
    );
    expect(events).toEqual([
      { kind: "placed", machine: "a", reason: null },
      { kind: "moved", machine: "b", reason: "moved from a by rebalance (test)" },
      { kind: "placed", machine: "b", reason: "moved from a" },
    ]);
    const { rows: stats } = await db.pool.query(
      "select plans, placements_committed from omega.scheduler_stats where scheduler = 'rebalance'",
    );
    expect(stats[0]).toMatchObject({ plans: 1, placements_committed: 1 });
    expect(await invariantViolations(db.pool)).toEqual([]);
    expect(job).toBeGreaterThan(0);
  });

  it("commits a move once: the second of two identical moves finds the claim gone", async () => {
    const [t] = (await placed(a)).tasks as [number];
    const outcomes = await Promise.all([move(t, a, b), move(t, a, b)]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(["moved", "rejected"]);
    expect(outcomes.find((o) => o.outcome === "rejected")?.reason).toMatch(/claim_moved|machine_busy/);
    const { rows } = await db.pool.query("select count(*)::int as n from omega.moves");
    expect(rows[0].n).toBe(1);
    expect(await invariantViolations(db.pool)).toEqual([]);
  });

  it("changes nothing when the target cannot take the task (the placement rules of decide_plan)", async () => {
    const full = await makeMachine(db.pool, { name: "full", cpu: 1000, memory: 8192 });
    await placed(full);
    const [t] = (await placed(a)).tasks as [number];
    expect(await move(t, a, full)).toMatchObject({ outcome: "rejected", reason: "insufficient_resources" });
    const [s] = (await placed(a, { constraints: { selector: { zone: "x" } } })).tasks as [number];
    expect(await move(s, a, b)).toMatchObject({ outcome: "rejected", reason: "constraints_not_met" });
    await db.pool.query("select omega.set_machine_state('east', 'b', 'draining')");
    expect(await move(t, a, b)).toMatchObject({ outcome: "rejected", reason: "machine_not_up" });
    expect(await claimedOn(t)).toBe(a.id);
    const { rows } = await db.pool.query(
      "select count(*)::int as n from omega.events where kind in ('moved', 'returned') or (kind = 'placed' and machine <> 'a' and machine <> 'full')",
    );
    expect(rows[0].n).toBe(0);
    expect(await invariantViolations(db.pool)).toEqual([]);
  });

  it("never moves higher-priority work to make room for lower", async () => {
    const [prod] = (await placed(a, { priority: 250 })).tasks as [number];
    const [batch] = (await placed(a, { priority: 150 })).tasks as [number];
    const gang = await submitJob(db.pool, { tasks: 2, priority: 150, resources: { cpu: 4000, memory: 1 } });
    expect(await move(prod, a, b, { forJob: gang })).toMatchObject({
      outcome: "rejected",
      reason: "priority",
    });
    expect(await move(batch, a, b, { forJob: gang })).toMatchObject({ outcome: "moved" });
  });

  it("holds a job's disruption budget: moved running tasks count until they run again", async () => {
    const { tasks } = await placed(a, { tasks: 3, disruptionBudget: { maxUnavailable: 1 } });
    const [t1, t2, t3] = tasks as [number, number, number];
    for (const t of tasks) await setRunning(t, a);
    expect(await move(t1, a, b)).toMatchObject({ outcome: "moved" });
    expect(await move(t2, a, b)).toMatchObject({ outcome: "rejected", reason: "disruption_budget" });
    const { rows } = await db.pool.query("select unavailable, max_unavailable from omega.disruption");
    expect(rows).toEqual([{ unavailable: 1, max_unavailable: 1 }]);
    await setRunning(t1, b);
    expect(await move(t2, a, b)).toMatchObject({ outcome: "moved" });
    const budgetZero = await placed(a, { disruptionBudget: { maxUnavailable: 0 } });
    const [z] = budgetZero.tasks as [number];
    // Not running yet: moving it takes nothing away.
    expect(await move(z, a, b)).toMatchObject({ outcome: "moved" });
    expect(t3).toBeGreaterThan(0);
  });

  it("never moves a task twice within the cooldown nor undoes a recent move", async () => {
    const [t, u] = (await placed(a, { tasks: 2 })).tasks as [number, number];
    expect(await move(t, a, b)).toMatchObject({ outcome: "moved" });
    expect(await move(t, b, a)).toMatchObject({ outcome: "rejected", reason: "recently_moved" });
    const [w] = (await placed(b)).tasks as [number];
    expect(await move(w, b, a)).toMatchObject({ outcome: "rejected", reason: "undoes_recent_move" });
    expect(await move(u, a, b)).toMatchObject({ outcome: "moved" });
  });

  it("keeps the cell under its rate limit, whoever moves", async () => {
    await db.pool.query(
      `update omega.schedulers set profile = '{"kind": "rebalance", "rebalance": {"maxMovesPerMinute": 2}}' where name = 'rebalance'`,
    );
    const tasks = (await placed(a, { tasks: 3 })).tasks as [number, number, number];
    const outcomes = await Promise.all(tasks.map((t) => move(t, a, b)));
    expect(outcomes.filter((o) => o.outcome === "moved")).toHaveLength(2);
    expect(outcomes.filter((o) => o.reason === "rate_limited")).toHaveLength(1);
  });

  it("refuses malformed calls and a job naming the rebalancer", async () => {
    await expect(
      db.pool.query("select * from omega.commit_move('east', 'rebalance', null, 1, 2)"),
    ).rejects.toMatchObject({ code: "OM422" });
    await expect(submitJob(db.pool, { scheduler: "rebalance" })).rejects.toMatchObject({ code: "OM422" });
    await expect(submitJob(db.pool, { disruptionBudget: { maxUnavailable: -1 } })).rejects.toMatchObject({
      code: "OM422",
    });
  });
});
