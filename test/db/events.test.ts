import { afterAll, beforeAll, expect, it } from "vitest";
import { withTransaction } from "../../src/db/pool.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";

let db: TestDatabase;
let m1: { id: number; version: number };
let m2: { id: number; version: number };
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
  m1 = await makeMachine(db.pool, { name: "m1" });
  m2 = await makeMachine(db.pool, { name: "m2" });
});
afterAll(() => db.drop());

async function story(jobId: number): Promise<string[]> {
  const { rows } = await db.pool.query(
    "select task_index, kind, machine, reason from omega.events where job_id = $1 order by id",
    [jobId],
  );
  return rows.map((r) =>
    [r.task_index === null ? "job" : `task ${r.task_index}`, r.kind, r.machine, r.reason]
      .filter((x) => x !== null)
      .join(" "),
  );
}

async function report(machine: string, taskId: number, state: string, reason?: string): Promise<void> {
  await db.pool.query("select omega.report_task('east', $1, $2, $3, $4)", [
    machine,
    taskId,
    state,
    reason ?? null,
  ]);
}

it("tells a job's story: submitted, placed (with the machine), running, failed, retried, succeeded", async () => {
  const job = await submitJob(db.pool, { tasks: 2, maxRetries: 1 });
  const [a, b] = (await pendingTaskIds(db.pool, job)) as [number, number];
  await commitPlan(db.pool, [
    { taskId: a, machineId: m1.id, version: 0 },
    { taskId: b, machineId: m2.id, version: 0 },
  ]);
  await report("m1", a, "running");
  await report("m2", b, "running");
  await report("m1", a, "failed", "exit 2");
  await commitPlan(db.pool, [{ taskId: a, machineId: m2.id, version: 0 }]);
  await report("m2", a, "succeeded");
  await report("m2", b, "succeeded");
  expect(await story(job)).toEqual([
    "job submitted",
    // commit_plan moves tasks and job in one statement; the job's event is deferred to the commit.
    "task 0 placed m1",
    "task 1 placed m2",
    "job placed",
    "task 0 running m1",
    "job running",
    "task 1 running m2",
    "task 0 failed m1 exit 2",
    "task 0 retried retry 1 of 1 after: exit 2",
    "job pending",
    "task 0 placed m2",
    // It had started: placed again, it is running, not placed.
    "job running",
    "task 0 succeeded m2 exit 0",
    "task 1 succeeded m2 exit 0",
    "job succeeded",
  ]);
});

it("names the cause of a task returned to pending: lost, preempted, or returned", async () => {
  const job = await submitJob(db.pool, { tasks: 3 });
  const tasks = (await pendingTaskIds(db.pool, job)) as [number, number, number];
  await commitPlan(
    db.pool,
    tasks.map((taskId) => ({ taskId, machineId: m1.id, version: 0 })),
  );
  await report("m1", tasks[0], "running");
  const back = (taskId: number, reason: string) =>
    withTransaction(db.pool, async (tx) => {
      await tx.query("select from omega.jobs where cell = 'east' and id = $1 for update", [job]);
      await tx.query("select omega.return_to_pending('east', $1, $2)", [[taskId], reason]);
    });
  await back(tasks[0], "lost: machine m1 stopped sending heartbeats");
  await back(tasks[1], "preempted by job 99");
  await back(tasks[2], "machine removed");
  const events = await story(job);
  expect(events).toContain("task 0 lost m1 lost: machine m1 stopped sending heartbeats");
  expect(events).toContain("task 1 preempted preempted by job 99");
  expect(events).toContain("task 2 returned machine removed");
  // The job went back to pending with the first of them.
  expect(events.filter((e) => e.startsWith("job")).slice(-1)).toEqual(["job pending"]);
  expect(events.indexOf("job pending")).toBe(events.findIndex((e) => e.includes("lost")) + 1);
});

it("logs a cancellation once, for the job, whatever its size; a parked job's new reasons log nothing", async () => {
  const job = await submitJob(db.pool, { tasks: 500 });
  await db.pool.query("update omega.tasks set reason = 'nowhere to go' where job_id = $1", [job]);
  await db.pool.query("select omega.cancel_job($1)", [job]);
  expect(await story(job)).toEqual(["job submitted", "job cancelled"]);
});

it("is append-only", async () => {
  await expect(db.pool.query("update omega.events set kind = 'succeeded'")).rejects.toMatchObject({
    code: "OM409",
  });
});
