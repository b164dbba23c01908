import { afterAll, beforeAll, expect, it } from "vitest";
import { launchDuePeriodicJobs } from "../../src/periodic/launcher.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeTenant } from "../support/factories.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
});
afterAll(() => db.drop());

const job = { cell: "east", tasks: 1, resources: { cpu: 100, memory: 64 } };

async function create(spec: Record<string, unknown>, nextRunAt: string): Promise<number> {
  const { rows } = await db.pool.query("select omega.create_periodic('acme', $1, $2) as id", [
    { schedule: "* * * * * *", job, ...spec },
    nextRunAt,
  ]);
  return Number(rows[0].id);
}

async function launched(id: number): Promise<{ state: string; at: string }[]> {
  const { rows } = await db.pool.query(
    `select j.state, l.scheduled_at from omega.periodic_launches l join omega.jobs j on j.id = l.job_id
     where l.periodic_id = $1 and l.outcome = 'launched' order by l.scheduled_at`,
    [id],
  );
  return rows.map((r) => ({ state: r.state, at: r.scheduled_at.toISOString() }));
}

it("makes up a 30 s outage only within startingDeadlineSeconds, and launches each time once", async () => {
  // As if no worker had run for 30 s: next_run_at is 30 s behind the database's clock.
  const id = await create({ name: "catch-up", startingDeadlineSeconds: 5 }, "now");
  await db.pool.query(
    "update omega.periodic set next_run_at = date_trunc('second', now()) - interval '30 s' where id = $1",
    [id],
  );
  const [first, second] = await Promise.all([launchDuePeriodicJobs(db.pool), launchDuePeriodicJobs(db.pool)]);
  const runs = await launched(id);
  expect(first + second).toBe(runs.length);
  // About five seconds' worth: the launcher reads the database's clock, then launches, and the
  // deadline counts from the launch's own now(). On a loaded machine a second or two can pass in
  // between, and the earliest times fall out of the window (the full suite once saw 4).
  expect(runs.length).toBeGreaterThanOrEqual(3);
  expect(runs.length).toBeLessThanOrEqual(7);
  expect(new Set(runs.map((r) => r.at)).size).toBe(runs.length);
  const { rows } = await db.pool.query(
    "select next_run_at > now() - interval '1 s' as ahead from omega.periodic where id = $1",
    [id],
  );
  expect(rows[0].ahead).toBe(true);
  const view = await db.pool.query(
    "select last_run_at, next_run_at, launches from omega.periodic_jobs where id = $1",
    [id],
  );
  expect(Number(view.rows[0].launches)).toBe(runs.length);
  await db.pool.query("select omega.delete_periodic($1)", [id]);
});

it("Forbid skips while the last job runs; Replace cancels it; Allow runs them side by side", async () => {
  const ids: Record<string, number> = {};
  for (const policy of ["Forbid", "Replace", "Allow"]) {
    ids[policy] = await create(
      { name: policy.toLowerCase(), concurrencyPolicy: policy, startingDeadlineSeconds: 60 },
      "now",
    );
    await db.pool.query(
      "update omega.periodic set next_run_at = date_trunc('second', now()) - interval '3 s' where id = $1",
      [ids[policy]],
    );
  }
  await launchDuePeriodicJobs(db.pool);
  const forbid = await launched(ids.Forbid as number);
  expect(forbid).toHaveLength(1);
  const skipped = await db.pool.query(
    "select reason from omega.periodic_launches where periodic_id = $1 and outcome = 'skipped'",
    [ids.Forbid],
  );
  expect(skipped.rows.length).toBeGreaterThanOrEqual(3);
  expect(skipped.rows[0].reason).toMatch(/has not finished \(Forbid\)/);
  const replace = await launched(ids.Replace as number);
  expect(replace.length).toBeGreaterThanOrEqual(4);
  expect(replace.slice(0, -1).every((r) => r.state === "cancelled")).toBe(true);
  expect(replace.at(-1)?.state).toBe("pending");
  const allow = await launched(ids.Allow as number);
  expect(allow.length).toBeGreaterThanOrEqual(4);
  expect(allow.every((r) => r.state === "pending")).toBe(true);
  const events = await db.pool.query(
    "select count(*)::int as n from omega.events where kind = 'launched' and reason like 'periodic job allow%'",
  );
  expect(events.rows[0].n).toBe(allow.length);
});

it("refuses a job spec that could never launch, and a paused job launches nothing", async () => {
  await expect(create({ name: "bad", job: { ...job, tasks: 0 } }, "now")).rejects.toThrow(/^job\.tasks:/);
  await expect(create({ name: "dep", job: { ...job, dependsOn: [] } }, "now")).rejects.toThrow(/dependsOn/);
  const id = await create({ name: "paused", suspend: true }, "now");
  await db.pool.query("update omega.periodic set next_run_at = now() - interval '2 s' where id = $1", [id]);
  await launchDuePeriodicJobs(db.pool);
  expect(await launched(id)).toEqual([]);
  await expect(create({ name: "paused" }, "now")).rejects.toThrow(/already exists/);
});
