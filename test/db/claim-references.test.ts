import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";

// A claim names a task and a machine that exist, and neither goes while the claim holds it (0243:
// the foreign keys' rule, checked once per statement and on delete).
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
});
afterAll(() => db.drop());

/** Inserts a claim for `taskId` on `machineId` behind the procedures' back; resolves to the error. */
async function claim(taskId: number, machineId: number): Promise<{ code?: string; constraint?: string }> {
  return db.pool
    .query(
      `insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler)
       select 'east', $1, j.id, $2, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk, j.scheduler
       from omega.jobs j limit 1`,
      [taskId, machineId],
    )
    .then(
      () => ({}),
      (error) => ({ code: error.code, constraint: error.constraint }),
    );
}

it("refuses a claim on a task or a machine that does not exist, and writes nothing", async () => {
  const machine = await makeMachine(db.pool);
  const [task] = await pendingTaskIds(db.pool, await submitJob(db.pool));
  expect(await claim(1e9, machine.id)).toEqual({ code: "23503", constraint: "claims_cell_task_id_fkey" });
  expect(await claim(task as number, 1e9)).toEqual({
    code: "23503",
    constraint: "claims_cell_machine_id_fkey",
  });
  const { rows } = await db.pool.query("select count(*)::int as n from omega.claims");
  expect(rows[0].n).toBe(0);
});

it("keeps a claimed task and machine: neither can be deleted until the claim is gone", async () => {
  const machine = await makeMachine(db.pool);
  const [task] = await pendingTaskIds(db.pool, await submitJob(db.pool));
  const out = await commitPlan(db.pool, [
    { taskId: task as number, machineId: machine.id, version: machine.version },
  ]);
  expect(out[0]?.outcome).toBe("committed");
  const refused = (sql: string, id: number) =>
    db.pool.query(sql, [id]).then(
      () => null,
      (error) => error.code,
    );
  expect(await refused("delete from omega.machines where id = $1", machine.id)).toBe("23503");
  expect(await refused("delete from omega.tasks where id = $1", task as number)).toBe("23503");
  // Once the claim is released the machine may go (the task's job still names it).
  await db.pool.query("select omega.release_claims('east', $1)", [[task]]);
  expect(await refused("delete from omega.machines where id = $1", machine.id)).toBeNull();
});

it("checks claims written after a commit in the same transaction: the commit's own shortcut ends with it", async () => {
  const machine = await makeMachine(db.pool);
  const [task] = await pendingTaskIds(db.pool, await submitJob(db.pool));
  const client = await db.pool.connect();
  try {
    await client.query("begin");
    await client.query("select * from omega.commit_plan('east', 'batch', $1, $2, $3)", [
      [task],
      [machine.id],
      [machine.version],
    ]);
    const error = await client
      .query(
        `insert into omega.claims (cell, task_id, job_id, machine_id, tenant_id, priority, cpu, memory, gpu, disk, scheduler)
         select 'east', 1e9, j.id, $1, j.tenant_id, j.priority, j.cpu, j.memory, j.gpu, j.disk, j.scheduler
         from omega.jobs j limit 1`,
        [machine.id],
      )
      .catch((e) => e);
    expect(error.code).toBe("23503");
  } finally {
    await client.query("rollback");
    client.release();
  }
});
