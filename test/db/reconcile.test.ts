import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";

// The reconcile every worker runs every 5 s (omega.wake_stale): no pending work is forgotten,
// whatever happened to its wake-up.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
});
afterAll(() => db.drop());
beforeEach(async () => {
  await db.pool.query("delete from graphile_worker._private_jobs");
  await db.pool.query("update omega.jobs set state = 'cancelled', pending_count = 0 where state = 'pending'");
});

const wakeUps = async () =>
  (
    await db.pool.query<{ locked: boolean }>(
      "select locked_at is not null as locked from graphile_worker._private_jobs where key like 'schedule:east:batch:%'",
    )
  ).rows;
const wakeStale = async () => (await db.pool.query("select omega.wake_stale() as n")).rows[0].n;

it("re-enqueues the wake-up of pending work whose wake-up was lost", async () => {
  await submitJob(db.pool);
  await db.pool.query("delete from graphile_worker._private_jobs"); // lost
  expect(await wakeStale()).toBe(1);
  expect(await wakeUps()).toEqual([{ locked: false }]);
});

it("enqueues a fresh wake-up when the only one is locked by a worker that died", async () => {
  await submitJob(db.pool);
  // graphile-worker keeps a dead worker's lock for 4 hours.
  await db.pool.query(
    "update graphile_worker._private_jobs set locked_at = now(), locked_by = 'dead-worker'",
  );
  await wakeStale();
  expect(await wakeUps()).toEqual([{ locked: false }]);
});

it("leaves a job leased by a live worker alone, and wakes it once the lease has expired", async () => {
  const job = await submitJob(db.pool);
  await db.pool.query(
    "update omega.jobs set lease_owner = 'w', lease_expires = now() + interval '15 seconds' where id = $1",
    [job],
  );
  await db.pool.query("delete from graphile_worker._private_jobs");
  expect(await wakeStale()).toBe(0);
  await db.pool.query("update omega.jobs set lease_expires = now() - interval '1 second' where id = $1", [
    job,
  ]);
  expect(await wakeStale()).toBe(1);
});

it("leaves a parked job to capacity_freed: a task that finishes unparks it and wakes its scheduler", async () => {
  const m = await makeMachine(db.pool, { name: "solo", cpu: 1000 });
  const running = await submitJob(db.pool, { resources: { cpu: 1000 } });
  const [task] = (await pendingTaskIds(db.pool, running)) as [number];
  await commitPlan(db.pool, [{ taskId: task, machineId: m.id, version: 0 }]);
  const parked = await submitJob(db.pool, { resources: { cpu: 1000 } });
  await db.pool.query("update omega.jobs set blocked = true where id = $1", [parked]);
  await db.pool.query("delete from graphile_worker._private_jobs");
  expect(await wakeStale()).toBe(0);

  await db.pool.query("select omega.report_task('east', 'solo', $1, 'succeeded')", [task]);
  const after = await db.pool.query("select blocked from omega.jobs where id = $1", [parked]);
  expect(after.rows[0].blocked).toBe(false);
  expect(await wakeUps()).toEqual([{ locked: false }]);
});
