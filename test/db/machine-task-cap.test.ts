import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { checkLostMachines } from "../../src/db/queries/machine-lost.ts";
import { taskReports } from "../../src/db/queries/task-reports.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeAgentToken,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  setTenantLimits,
  submitJob,
} from "../support/factories.ts";
import { invariantViolations } from "../support/invariants.ts";

/** Machines that cannot be flooded, and machines that never speak (issue 17: H1, M4). */

let db: TestDatabase;
afterAll(() => db.drop());
beforeEach(async () => {
  await db?.drop();
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
});

async function putMachine(name: string, maxTasks: number | null) {
  const { rows } = await db.pool.query(
    `select id, version, max_tasks from omega.put_machine('east', $1, '{"cpu": 64000, "memory": 65536}', '{}', '[]', $2)`,
    [name, maxTasks],
  );
  return rows[0] as { id: number; version: number; max_tasks: number };
}

async function claimsOn(machineId: number): Promise<number> {
  const { rows } = await db.pool.query("select count(*)::int as n from omega.claims where machine_id = $1", [
    machineId,
  ]);
  return rows[0].n;
}

describe("the per-machine task cap", () => {
  it("is 110 by default and set by put_machine; a cap below what the machine holds is a 409", async () => {
    expect((await putMachine("m1", null)).max_tasks).toBe(110);
    const m = await putMachine("m2", 2);
    expect(m.max_tasks).toBe(2);
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 100 } });
    const tasks = await pendingTaskIds(db.pool, job);
    await commitPlan(
      db.pool,
      tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    await expect(putMachine("m2", 1)).rejects.toMatchObject({ code: "OM409" });
    // Leaving it out keeps it.
    expect((await putMachine("m2", null)).max_tasks).toBe(2);
  });

  it("holds at commit: a plan never leaves a machine with more claims than its cap", async () => {
    const m = await putMachine("m1", 2);
    const job = await submitJob(db.pool, { tasks: 3, resources: { cpu: 100 } });
    const tasks = await pendingTaskIds(db.pool, job);
    const plan = tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version }));
    // Until commit_plan gives the per-placement verdict (max_tasks), the row's CHECK refuses the
    // whole plan; either way the third claim never lands.
    const outcome = await commitPlan(db.pool, plan).catch((error: { code?: string }) => error.code);
    if (Array.isArray(outcome)) {
      expect(outcome.filter((o) => o.outcome === "committed")).toHaveLength(2);
      expect(outcome.find((o) => o.outcome === "rejected")?.reason).toBe("max_tasks");
    } else {
      expect(outcome).toBe("23514");
    }
    expect(await claimsOn(m.id)).toBeLessThanOrEqual(2);
    expect(await invariantViolations(db.pool)).toEqual([]);
  });

  it("bounds the capacity question: a machine at its cap fits nothing more, however small", async () => {
    const m = await putMachine("m1", 2);
    const job = await submitJob(db.pool, { tasks: 1, resources: { cpu: 100 } });
    const [task] = await pendingTaskIds(db.pool, job);
    await commitPlan(db.pool, [{ taskId: task as number, machineId: m.id, version: m.version }]);
    const { rows } = await db.pool.query(`select fits::int from omega.how_many_fit('east', '{"cpu": 10}')`);
    expect(rows).toEqual([{ fits: 1 }]);
  });

  it("is seen by the invariant checker when claims are written behind the procedures' back", async () => {
    const m = await putMachine("m1", 1);
    const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 100 } });
    await db.pool.query(
      `insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler)
       select t.cell, t.id, t.job_id, $2, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk, j.scheduler
       from omega.tasks t join omega.jobs j on j.cell = t.cell and j.id = t.job_id where t.job_id = $1`,
      [job, m.id],
    );
    const violations = await invariantViolations(db.pool);
    expect(violations.filter((v) => v.invariant.startsWith("1b task cap"))).toEqual([
      { invariant: expect.any(String), row: { name: "m1", max_tasks: 1, claims: 2 } },
    ]);
  });
});

describe("a machine that never heartbeats", () => {
  it("is taken down after the timeout from its registration, and its tasks placed elsewhere", async () => {
    await makeAgentToken(db.pool);
    const silent = await makeMachine(db.pool, { name: "never-spoke" });
    const speaking = await makeMachine(db.pool, { name: "speaks" });
    await db.pool.query("select omega.heartbeat('east', 'speaks')");
    const job = await submitJob(db.pool, { tasks: 1, resources: { cpu: 100 } });
    const [task] = await pendingTaskIds(db.pool, job);
    await commitPlan(db.pool, [{ taskId: task as number, machineId: silent.id, version: silent.version }]);
    // Registered a minute ago, never heard from since; the check has been watching all along.
    await db.pool.query("update omega.machines set created_at = now() - interval '1 minute'");
    await db.pool.query(
      "insert into omega.machine_watch (watching_since, checked_at) values (now() - interval '1 minute', now())",
    );
    const { lost, tasksMoved } = await checkLostMachines(db.pool, 30_000, 60_000);
    expect(lost).toEqual([{ cell: "east", machine: "never-spoke" }]);
    expect(tasksMoved).toBe(1);
    const { rows } = await db.pool.query("select name, state from omega.machines order by name");
    expect(rows).toEqual([
      { name: "never-spoke", state: "down" },
      { name: "speaks", state: "up" },
    ]);
    const task1 = await db.pool.query("select state, reason from omega.tasks where id = $1", [task]);
    expect(task1.rows[0]).toEqual({
      state: "pending",
      reason: "lost: machine never-spoke stopped sending heartbeats",
    });
    expect(speaking.id).toBeGreaterThan(0);
  });

  it("is left alone while it is younger than the timeout, or in a cell that has no agents", async () => {
    await makeMachine(db.pool, { name: "hand-made" });
    await db.pool.query("update omega.machines set created_at = now() - interval '1 minute'");
    await makeMachine(db.pool, { name: "new" });
    await db.pool.query(
      "insert into omega.machine_watch (watching_since, checked_at) values (now() - interval '1 minute', now())",
    );
    expect((await checkLostMachines(db.pool, 30_000, 60_000)).lost).toEqual([]);
    await makeAgentToken(db.pool);
    expect((await checkLostMachines(db.pool, 30_000, 60_000)).lost).toEqual([
      { cell: "east", machine: "hand-made" },
    ]);
  });
});

describe("batched agent reports", () => {
  it("applies each report on its own: one refused does not undo the others", async () => {
    const m = await makeMachine(db.pool, { name: "m1" });
    await setTenantLimits(db.pool, { minTaskRequest: { cpu: 0 } });
    const job = await submitJob(db.pool, { tasks: 3, resources: { cpu: 100 } });
    const tasks = (await pendingTaskIds(db.pool, job)) as [number, number, number];
    await commitPlan(
      db.pool,
      tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
    );
    const results = await taskReports(db.pool, "east", "m1", [
      { task: tasks[0], state: "running" },
      { task: 999_999, state: "running" },
      { task: tasks[1], state: "succeeded", reason: "exit 0" },
      { task: tasks[2], state: "failed", reason: "exit 1" },
      { task: tasks[1], state: "running" },
    ]);
    expect(results.map((r) => [r.taskId, r.status, r.state])).toEqual([
      [tasks[0], 200, "running"],
      [999_999, 404, null],
      [tasks[1], 200, "succeeded"],
      [tasks[2], 200, "pending"],
      [tasks[1], 409, null],
    ]);
    expect(results[4]?.detail).toMatch(/already succeeded/);
    expect(await invariantViolations(db.pool)).toEqual([]);
  });

  it("refuses more than 1000 reports in one call, changing nothing", async () => {
    await makeMachine(db.pool, { name: "m1" });
    const reports = Array.from({ length: 1001 }, (_, i) => ({ task: i + 1, state: "running" as const }));
    await expect(taskReports(db.pool, "east", "m1", reports)).rejects.toMatchObject({ code: "OM422" });
  });
});
