import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  setQuota,
  submitJob,
} from "../support/factories.ts";

// Every writer locks a tenant's quota row before its share row (omega.tenant_usage, one per
// tenant and backend id modulo 16): a commit locks the quota rows first (plan_lock) and counts the
// shares last. A release that counted the share first and then waited for the quota row deadlocked
// with such a commit when their backends shared the shard (0330's order; seen in session 19's CI,
// fixed in 0342).

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeMachine(db.pool);
  await makeTenant(db.pool);
  await setQuota(db.pool, { cpu: 100_000 });
});
afterAll(() => db.drop());

it("a release waits for the quota row before it touches the tenant's share row", async () => {
  const jobId = await submitJob(db.pool, { tasks: 1 });
  const [taskId] = await pendingTaskIds(db.pool, jobId);
  const { rows: machines } = await db.pool.query("select id, version from omega.machines");
  const [placed] = await commitPlan(db.pool, [
    { taskId: taskId as number, machineId: machines[0].id, version: machines[0].version },
  ]);
  expect(placed?.outcome).toBe("committed");

  const committer = await db.pool.connect();
  const canceller = await db.pool.connect();
  try {
    const { rows } = await canceller.query("select pg_backend_pid() as pid");
    const pid = rows[0].pid as number;
    const shard = pid % 16;
    // The commit's order: the quota row (plan_lock) ...
    await committer.query("begin");
    await committer.query(
      "select from omega.quotas where tenant_id = (select id from omega.tenants where name = 'acme') for update",
    );
    // ... while a cancellation releases the job's claim (it must now wait for that quota row) ...
    const cancelled = canceller.query("select omega.cancel_job($1)", [jobId]);
    await waitUntilWaiting(pid);
    // ... and then the share row of the cancelling backend's shard, as a commit there would.
    await committer.query("set local lock_timeout = '3s'");
    await committer.query(
      `insert into omega.tenant_usage as u (cell, tenant_id, shard, cpu, memory, gpu, disk, tasks)
       select 'east', id, $1, 0, 0, 0, 0, 0 from omega.tenants where name = 'acme'
       on conflict (cell, tenant_id, shard) do update set tasks = u.tasks`,
      [shard],
    );
    await committer.query("commit");
    await expect(cancelled).resolves.toMatchObject({ rows: [{ cancel_job: "cancelled" }] });
  } finally {
    await committer.query("rollback").catch(() => {});
    committer.release();
    canceller.release();
  }
});

async function waitUntilWaiting(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await db.pool.query("select wait_event_type from pg_stat_activity where pid = $1", [
      pid,
    ]);
    if (rows[0]?.wait_event_type === "Lock") return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("the cancellation never waited for a lock");
}
