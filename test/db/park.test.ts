import { afterAll, beforeAll, expect, it } from "vitest";
import { leaseWork, parkJob, parkJobs } from "../../src/db/scheduling.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeTenant, submitJob } from "../support/factories.ts";

// Only the lease holder parks a job: a worker whose lease lapsed (and went to another) must not
// park the other's work nor write the reason its tasks show. A scheduler nobody registered leases
// nothing.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
});
afterAll(() => db.drop());

const lease = (owner: string, scheduler = "batch") =>
  leaseWork(db.pool, { cell: "east", scheduler, owner, limit: 10, leaseSeconds: 5 });

it("parks for the lease holder, and refuses anyone else", async () => {
  const job = await submitJob(db.pool);
  const { leased } = await lease("holder");
  expect(leased.map((j) => j.id)).toEqual([job]);
  const park = (owner: string) =>
    parkJob(db.pool, { cell: "east", jobId: job, owner, seenEpoch: 1e9, reason: owner });

  expect(await park("stranger")).toBe(false);
  const before = await db.pool.query(
    "select blocked, (select reason from omega.tasks where job_id = $1) from omega.jobs where id = $1",
    [job],
  );
  expect(before.rows[0]).toEqual({ blocked: false, reason: null });

  expect(await park("holder")).toBe(true);
  const after = await db.pool.query(
    "select blocked, (select reason from omega.tasks where job_id = $1) from omega.jobs where id = $1",
    [job],
  );
  expect(after.rows[0]).toEqual({ blocked: true, reason: "holder" });
});

it("refuses to lease for a scheduler nobody registered", async () => {
  await expect(lease("w", "no-such-scheduler")).rejects.toThrow(/not registered/);
});

it("parks a batch in one call, each job with its own reason, only the holder's; none when capacity was freed since the plan", async () => {
  const jobs = [await submitJob(db.pool), await submitJob(db.pool), await submitJob(db.pool)];
  const { leased } = await lease("batcher");
  expect(leased.map((j) => j.id)).toEqual(jobs);
  const epoch = Number(
    (await db.pool.query("select capacity_epoch from omega.cells where name = 'east'")).rows[0]
      .capacity_epoch,
  );
  const reasons = jobs.map((j) => ({ jobId: j, reason: `no room for ${j}` }));

  // Capacity freed since the plan's snapshot: nothing parked, the leases given back.
  expect(
    await parkJobs(db.pool, { cell: "east", jobs: reasons, owner: "batcher", seenEpoch: epoch - 1 }),
  ).toEqual(new Set());
  const given = await db.pool.query(
    "select count(*)::int as n from omega.jobs where id = any($1) and lease_owner is null and not blocked",
    [jobs],
  );
  expect(given.rows[0].n).toBe(3);

  await lease("batcher");
  expect(
    await parkJobs(db.pool, { cell: "east", jobs: reasons, owner: "stranger", seenEpoch: epoch }),
  ).toEqual(new Set());
  expect(
    await parkJobs(db.pool, { cell: "east", jobs: reasons, owner: "batcher", seenEpoch: epoch }),
  ).toEqual(new Set(jobs));
  const { rows } = await db.pool.query(
    "select j.id, j.blocked, t.reason from omega.jobs j join omega.tasks t on t.job_id = j.id where j.id = any($1) order by j.id",
    [jobs],
  );
  expect(rows).toEqual(jobs.map((id) => ({ id, blocked: true, reason: `no room for ${id}` })));
});
