import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  commitPlan,
  makeCell,
  makeMachine,
  makeTenant,
  parkOnCurrentEpoch,
  pendingTaskIds,
  submitJob,
} from "../support/factories.ts";
import { recordWakeUps, type WakeUpRecorder } from "../support/wake-ups.ts";

// The reconcile every worker runs every 2 s (omega.wake_stale): no pending work is forgotten,
// whatever happened to its wake-up (a notification is lost when no worker listens).
let db: TestDatabase;
let wakeUps: WakeUpRecorder;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
  wakeUps = await recordWakeUps(db.pool);
});
afterAll(async () => {
  await wakeUps.stop();
  await db.drop();
});
beforeEach(async () => {
  await db.pool.query("update omega.jobs set state = 'cancelled', pending_count = 0 where state = 'pending'");
  await wakeUps.take();
});

const wakeStale = async () => (await db.pool.query("select omega.wake_stale() as n")).rows[0].n;
const park = (job: number) => parkOnCurrentEpoch(db.pool, job);

it("a submission wakes its scheduler, and the reconcile wakes it again while nobody holds the work", async () => {
  await submitJob(db.pool);
  expect(await wakeUps.take()).toEqual(["east batch"]);
  // That notification was lost (no worker listening): the reconcile sends another, to every worker
  // of the scheduler (a stalled leading worker's work must reach the others: 0280).
  expect(await wakeStale()).toBe(1);
  expect(await wakeUps.take()).toEqual(["east batch *"]);
});

it("leaves a job leased by a live worker alone, and wakes it once the lease has expired", async () => {
  const job = await submitJob(db.pool);
  await db.pool.query(
    "update omega.jobs set lease_owner = 'w', lease_expires = now() + interval '15 seconds' where id = $1",
    [job],
  );
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
  await park(parked);
  await wakeUps.take();
  expect(await wakeStale()).toBe(0);

  await db.pool.query("select omega.report_task('east', 'solo', $1, 'succeeded')", [task]);
  const after = await db.pool.query("select blocked from omega.jobs where id = $1", [parked]);
  expect(after.rows[0].blocked).toBe(false);
  expect(await wakeUps.take()).toEqual(["east batch"]);
});

it("unparks a job that missed its unpark: parked on an older capacity epoch than its cell's", async () => {
  const job = await submitJob(db.pool, { resources: { cpu: 1000 } });
  await park(job);
  expect(await wakeStale()).toBe(0);
  // Capacity was freed, but its unpark skipped the job (its row was locked at that instant).
  await db.pool.query("update omega.cells set capacity_epoch = capacity_epoch + 1 where name = 'east'");
  await wakeUps.take();
  expect(await wakeStale()).toBe(1);
  const { rows } = await db.pool.query("select blocked from omega.jobs where id = $1", [job]);
  expect(rows[0].blocked).toBe(false);
  expect(await wakeUps.take()).toEqual(["east batch *"]);
});
