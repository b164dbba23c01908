import { afterAll, beforeAll, expect, it } from "vitest";
import { wakeStale } from "../../src/db/scheduling.ts";
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

// A full cell stays cheap: capacity that comes back unparks the parked jobs it could serve, in
// turn, not every parked job of the cell (the thundering herd); and the reconcile retries parked
// jobs a bounded number at a time.
let db: TestDatabase;
let machine: { id: number; version: number };
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
  machine = await makeMachine(db.pool, { cpu: 4000, memory: 65536 });
});
afterAll(() => db.drop());

const park = (job: number) => parkOnCurrentEpoch(db.pool, job);
const parked = async (jobs: number[]) =>
  (
    await db.pool.query("select id from omega.jobs where id = any($1) and blocked order by id", [jobs])
  ).rows.map((r) => Number(r.id));

it("unparks only the parked jobs the freed room holds, oldest parking first, skipping those it cannot hold", async () => {
  // The machine full: one job of four 1-cpu tasks.
  const filler = await submitJob(db.pool, { tasks: 4, resources: { cpu: 1000 } });
  const outcomes = await commitPlan(
    db.pool,
    (await pendingTaskIds(db.pool, filler)).map((taskId) => ({
      taskId,
      machineId: machine.id,
      version: machine.version,
    })),
    { conflictMode: "coarse" },
  );
  expect(outcomes.filter((o) => o.outcome !== "committed")).toEqual([]);
  // Parked, in this order: a job too big for the machine, then fifty 1-cpu jobs (one of two tasks).
  const big = await submitJob(db.pool, { resources: { cpu: 8000 } });
  await park(big);
  const small: number[] = [];
  for (let i = 0; i < 50; i++) {
    const job = await submitJob(db.pool, { tasks: i % 2 === 0 ? 1 : 2, resources: { cpu: 1000 } });
    await park(job);
    small.push(job);
  }

  // Four cores come back.
  await db.pool.query("select omega.cancel_job($1)", [filler]);

  // Room for four tasks: the first small jobs, in turn, up to four tasks (1 + 2 + 1); not the big one.
  const left = await parked([big, ...small]);
  expect(left).toContain(big);
  expect(small.filter((j) => !left.includes(j))).toEqual(small.slice(0, 3));
});

it("retries parked jobs through the reconcile 32 per cell at a time, in turn, and unparks every one eventually", async () => {
  const jobs = (await db.pool.query("select id from omega.jobs where blocked order by id")).rows.map((r) =>
    Number(r.id),
  );
  expect(jobs.length).toBeGreaterThan(32);
  // All were parked on an older epoch than the cell's: the reconcile takes 32 of them per call.
  await wakeStale(db.pool);
  expect(jobs.length - (await parked(jobs)).length).toBe(32);
  while ((await parked(jobs)).length > 0) await wakeStale(db.pool);
});

it("unparks every parked job when capacity comes from elsewhere than released claims (a new machine)", async () => {
  const jobs: number[] = [];
  for (let i = 0; i < 40; i++) {
    const job = await submitJob(db.pool, { resources: { cpu: 1000 } });
    await park(job);
    jobs.push(job);
  }
  await makeMachine(db.pool, { cpu: 2000 });
  expect(await parked(jobs)).toEqual([]);
});
