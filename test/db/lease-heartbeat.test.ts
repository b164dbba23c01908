import { afterAll, beforeAll, expect, it } from "vitest";
import { leaseJobs, renewLeases } from "../../src/db/scheduling.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeTenant, submitJob } from "../support/factories.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
});
afterAll(() => db.drop());

const lease = (owner: string, leaseSeconds: number) =>
  leaseJobs(db.pool, { cell: "east", scheduler: "batch", owner, limit: 1, leaseSeconds });
const expiry = async (id: number) =>
  (await db.pool.query("select lease_owner, lease_expires from omega.jobs where id = $1", [id])).rows[0];

it("omega.renew_leases extends only the leases the owner still holds; a lease not renewed lapses and goes to another worker", async () => {
  // One pending job per lease call: see the known lease_jobs bug below.
  const kept = await submitJob(db.pool);
  expect((await lease("alive", 1)).map((j) => j.id)).toEqual([kept]);
  const lapsing = await submitJob(db.pool);
  expect((await lease("dead", 1)).map((j) => j.id)).toEqual([lapsing]);

  const before = await expiry(kept);
  expect(
    await renewLeases(db.pool, { cell: "east", jobIds: [kept, lapsing], owner: "alive", leaseSeconds: 60 }),
  ).toBe(1);
  const after = await expiry(kept);
  expect(after.lease_owner).toBe("alive");
  expect(after.lease_expires.getTime()).toBeGreaterThan(before.lease_expires.getTime() + 50_000);
  expect((await expiry(lapsing)).lease_owner).toBe("dead");

  // "dead" never renews: after its second, the job is leased by the next worker that asks.
  await new Promise((r) => setTimeout(r, 1_100));
  expect((await lease("other", 60)).map((j) => j.id)).toEqual([lapsing]);
  expect(
    await renewLeases(db.pool, { cell: "east", jobIds: [lapsing], owner: "dead", leaseSeconds: 60 }),
  ).toBe(0);
  expect((await expiry(lapsing)).lease_owner).toBe("other");
});

it("omega.renew_leases skips a job locked by a commit instead of waiting for it", async () => {
  const job = await submitJob(db.pool);
  await lease("beating", 60);
  const committer = await db.pool.connect();
  try {
    await committer.query("begin");
    await committer.query("select from omega.jobs where id = $1 for update", [job]);
    expect(
      await renewLeases(db.pool, { cell: "east", jobIds: [job], owner: "beating", leaseSeconds: 60 }),
    ).toBe(0);
  } finally {
    await committer.query("rollback");
    committer.release();
  }
  expect(
    await renewLeases(db.pool, { cell: "east", jobIds: [job], owner: "beating", leaseSeconds: 60 }),
  ).toBe(1);
});

// Regression: the pick was once rescanned inside the UPDATE's join and leased every pending job.
it("omega.lease_jobs leases at most p_limit jobs", async () => {
  await db.pool.query("update omega.jobs set state = 'cancelled', pending_count = 0 where state = 'pending'");
  for (let i = 0; i < 5; i++) await submitJob(db.pool);
  const leased = await leaseJobs(db.pool, {
    cell: "east",
    scheduler: "batch",
    owner: "w",
    limit: 2,
    leaseSeconds: 60,
  });
  expect(leased).toHaveLength(2);
});
