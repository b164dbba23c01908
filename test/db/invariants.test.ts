import { afterAll, beforeEach, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";
import { invariantViolations, schedulableButPending } from "../support/invariants.ts";

/** The checkers the race and kill tests rely on must see what they claim to see. */

let db: TestDatabase;
afterAll(() => db.drop());
beforeEach(async () => {
  await db?.drop();
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
});

/** Writes a claim behind the procedures' back, as a buggy one might. */
async function rogueClaim(taskId: number, machineId: number) {
  await db.pool.query(
    `insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler)
     select t.cell, t.id, t.job_id, $2, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk, j.scheduler
     from omega.tasks t join omega.jobs j on j.cell = t.cell and j.id = t.job_id where t.id = $1`,
    [taskId, machineId],
  );
}

it("reports nothing for work placed through the commit procedure", async () => {
  const m = await makeMachine(db.pool, { labels: { zone: "a" } });
  const job = await submitJob(db.pool, { tasks: 2, resources: { cpu: 1000 }, gang: { minAvailable: 2 } });
  const tasks = await pendingTaskIds(db.pool, job);
  await commitPlan(
    db.pool,
    tasks.map((taskId) => ({ taskId, machineId: m.id, version: m.version })),
  );
  expect(await invariantViolations(db.pool)).toEqual([]);
});

it("reports each kind of violation in rows written behind the procedures' back", async () => {
  const tainted = await makeMachine(db.pool, {
    cpu: 4000,
    labels: { zone: "a" },
    taints: [{ key: "dedicated", value: "ml" }],
  });
  const small = await makeMachine(db.pool, { cpu: 2000, labels: { zone: "b" } });
  const picky = await submitJob(db.pool, {
    tasks: 3,
    resources: { cpu: 500 },
    constraints: {
      selector: { zone: "b" },
      affinity: [{ key: "zone", op: "In", values: ["b"] }],
      maxPerMachine: 1,
    },
    gang: { minAvailable: 3 },
  });
  const [p1, p2] = await pendingTaskIds(db.pool, picky);
  await rogueClaim(p1!, tainted.id);
  await rogueClaim(p2!, tainted.id);
  const big = await submitJob(db.pool, { tasks: 2, resources: { cpu: 1500 } });
  for (const t of await pendingTaskIds(db.pool, big)) await rogueClaim(t, small.id);
  const cancelled = await submitJob(db.pool);
  const [c1] = await pendingTaskIds(db.pool, cancelled);
  await db.pool.query("select omega.cancel_job($1)", [cancelled]);
  await rogueClaim(c1!, small.id);

  const notIn = await submitJob(db.pool, {
    resources: { cpu: 500 },
    constraints: {
      affinity: [
        { key: "zone", op: "NotIn", values: ["a"] },
        { key: "disk", op: "Exists" },
        { key: "zone", op: "DoesNotExist" },
      ],
      tolerations: [{ key: "dedicated", operator: "Exists" }],
    },
  });
  await rogueClaim((await pendingTaskIds(db.pool, notIn))[0]!, tainted.id);

  const violations = await invariantViolations(db.pool);
  // Every failed term is named: picky's In for each of its 2 claims, and all three of notIn's.
  expect(violations.filter((v) => v.invariant.includes("affinity")).map((v) => v.row.term)).toHaveLength(5);
  const invariants = [...new Set(violations.map((v) => v.invariant))];
  expect(invariants.sort()).toEqual(
    [
      "1 capacity: claims on a machine exceed its capacity",
      "1 capacity: machines.used_* and tasks differ from the sums of its claims",
      "2 one claim per task: placed/running tasks hold exactly one, others none",
      "4 constraints: a claim on a machine that does not match the job's selector",
      "4 constraints: a claim on a machine that fails an affinity term",
      "4 constraints: a claim on a machine with a taint the job does not tolerate",
      "4 constraints: more claims of a job on one machine than its maxPerMachine",
      "6 gang: a gang job holds claims but fewer than minAvailable",
      "6 gang: a gang job's first plan placed fewer than minAvailable of its tasks",
      "7 cancelled: a cancelled job holds claims",
    ].sort(),
  );
});

it("lists pending work that could be placed, and a gang only if minAvailable would fit", async () => {
  await makeMachine(db.pool, { cpu: 2000, labels: { zone: "a" } });
  await makeMachine(db.pool, { cpu: 2000, labels: { zone: "b" }, taints: [{ key: "gpu" }] });
  const fits = await submitJob(db.pool, { tasks: 1, resources: { cpu: 1000 } });
  await submitJob(db.pool, { tasks: 1, resources: { cpu: 3000 } }); // too big for any machine
  await submitJob(db.pool, { tasks: 3, resources: { cpu: 1000 }, gang: { minAvailable: 3 } }); // room for 2
  const tolerant = await submitJob(db.pool, {
    tasks: 4,
    resources: { cpu: 1000 },
    constraints: { tolerations: [{ key: "gpu", operator: "Exists" }], maxPerMachine: 1 },
    gang: { minAvailable: 2 },
  });
  await submitJob(db.pool, { tasks: 1, resources: { cpu: 500 }, constraints: { selector: { zone: "c" } } });
  const listed = await schedulableButPending(db.pool);
  expect(listed.map((r) => [r.job_id, r.could_place])).toEqual([
    [fits, 2],
    [tolerant, 2],
  ]);
});
