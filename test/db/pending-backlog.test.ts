import { afterAll, beforeAll, expect, it } from "vitest";
import { jobSubmitBatch } from "../../src/db/queries/job-submit-batch.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeMachine, makeTenant, setTenantLimits, submitJob } from "../support/factories.ts";

// maxPendingTasks is read once per tenant and transaction (0220), then carried along: the figure
// must still count every job the transaction took, and none it refused.

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeMachine(db.pool);
  await makeTenant(db.pool);
  await makeTenant(db.pool, "other");
  await setTenantLimits(db.pool, { maxPendingTasks: 10 });
  await setTenantLimits(db.pool, { maxPendingTasks: 10 }, "other");
});
afterAll(() => db.drop());

const job = (tasks: number, tenant = "acme") => ({
  tenant,
  spec: { cell: "east", tasks, resources: { cpu: 1000, memory: 1024 } } as never,
});

it("one transaction's submissions count each other against the backlog, and a refused one does not count", async () => {
  // Already waiting: 2 tasks of acme, from an earlier transaction.
  await submitJob(db.pool, { tasks: 2 });
  const results = await jobSubmitBatch(db.pool, [
    job(5), // 2 + 5 = 7: taken
    job(4), // 7 + 4 = 11 > 10: refused
    job(3), // 7 + 3 = 10: taken (the refused 4 did not count)
    job(9, "other"), // another tenant's own backlog: 9
    job(1), // 10 + 1: refused
    job(1, "other"), // 9 + 1 = 10: taken
  ]);
  expect(results.map((r) => (r.ok ? "ok" : r.code))).toEqual(["ok", "OM429", "ok", "ok", "OM429", "ok"]);
  const { rows } = await db.pool.query<{ name: string; pending: number }>(
    `select t.name, sum(j.pending_count)::int as pending from omega.jobs j join omega.tenants t on t.id = j.tenant_id
     where j.state = 'pending' group by t.name order by t.name`,
  );
  expect(rows).toEqual([
    { name: "acme", pending: 10 },
    { name: "other", pending: 10 },
  ]);
});

it("the next transaction counts again: what was placed or cancelled meanwhile makes room", async () => {
  await expect(submitJob(db.pool, { tasks: 1 })).rejects.toMatchObject({ code: "OM429" });
  await db.pool.query(
    "update omega.jobs set state = 'cancelled' where tenant_id = (select id from omega.tenants where name = 'acme')",
  );
  const [result] = await jobSubmitBatch(db.pool, [job(10)]);
  expect(result).toMatchObject({ ok: true });
});

it("a session's own settings neither lift maxPendingTasks nor hide its jobs' events (0331, 0341)", async () => {
  // What the procedures carry along a transaction in custom settings, a caller could set first.
  const client = await db.pool.connect();
  try {
    const { rows } = await client.query<{ id: string }>("select id from omega.tenants where name = 'acme'");
    const id = rows[0]?.id;
    await client.query(`set omega.pending_tasks_${id} = '0'`);
    await client.query(`set omega.backlog_counted = '{"${id}": 0}'`);
    await client.query("set omega.task_moves_logged = 'on'");
    await client.query("set omega.pending_counted = 'on'");
    await client.query("set omega.submissions_logged = 'on'");
    // acme is at its 10 waiting tasks (the test before).
    await expect(client.query("select omega.submit_job('acme', $1)", [job(1).spec])).rejects.toMatchObject({
      code: "OM429",
    });
    const refused = await jobSubmitBatch(client, [job(1), job(1)]);
    expect(refused.map((r) => (r.ok ? "ok" : r.code))).toEqual(["OM429", "OM429"]);
    const waiting = await client.query<{ id: string }>(
      "select id from omega.jobs where tenant_id = $1 and state = 'pending' order by id limit 1",
      [id],
    );
    const victim = waiting.rows[0]?.id;
    await client.query("select omega.cancel_job($1)", [victim]);
    const events = await client.query("select kind from omega.events where job_id = $1 order by id", [
      victim,
    ]);
    expect(events.rows.map((r) => r.kind)).toEqual(["submitted", "cancelled"]);
    // The cancel gave its tasks back to the count: room for exactly them again.
    const [again] = await jobSubmitBatch(client, [job(10)]);
    expect(again).toMatchObject({ ok: true });
    // Logged, though the session claimed its submissions' events were logged already (0341).
    const logged = await client.query("select kind from omega.events where job_id = $1", [
      again?.ok && again.id,
    ]);
    expect(logged.rows.map((r) => r.kind)).toEqual(["submitted"]);
  } finally {
    await client.query("reset all");
    client.release();
  }
});
