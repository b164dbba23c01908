import { afterAll, beforeAll, expect, it } from "vitest";
import { leaseJobs, releaseLeases } from "../../src/db/scheduling.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeMachine, makeTenant, submitJob } from "../support/factories.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeMachine(db.pool);
  await makeTenant(db.pool);
  for (let i = 0; i < 40; i++) await submitJob(db.pool);
});
afterAll(() => db.drop());

it("lease_jobs never hands out more than its limit, with other workers leasing and releasing at the same time", async () => {
  // Four "workers" lease one job at a time and give it back, racing for the same queue head: a
  // pick that is re-evaluated when its row changed under it (the bug) leases several at once.
  const largest = await Promise.all(
    Array.from({ length: 4 }, async (_, w) => {
      let most = 0;
      for (let i = 0; i < 150; i++) {
        const owner = `w${w}`;
        const jobs = await leaseJobs(db.pool, {
          cell: "east",
          scheduler: "batch",
          owner,
          limit: 1,
          leaseSeconds: 15,
        });
        most = Math.max(most, jobs.length);
        await releaseLeases(
          db.pool,
          "east",
          jobs.map((j) => j.id),
          owner,
        );
      }
      return most;
    }),
  );
  expect(Math.max(...largest)).toBe(1);
});
