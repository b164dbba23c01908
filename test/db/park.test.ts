import { afterAll, beforeAll, expect, it } from "vitest";
import { leaseWork, parkJob } from "../../src/db/scheduling.ts";
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
