import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { allowAnyPriority, makeCell, makeMachine, makeTenant, submitJob } from "../support/factories.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

let db: TestDatabase;
let workers: OmegaProcess[];
beforeAll(async () => {
  db = await createTestDatabase();
  await makeTenant(db.pool);
  workers = [
    omega(["worker", "--scheduler", "batch"], { DATABASE_URL: db.url }),
    omega(["worker", "--scheduler", "service"], { DATABASE_URL: db.url }),
  ];
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await db.drop();
});

/** A cell of `machines` 4-core machines. */
async function cell(name: string, machines: number): Promise<void> {
  await makeCell(db.pool, name);
  await allowAnyPriority(db.pool, "acme", name);
  for (let i = 0; i < machines; i++)
    await makeMachine(db.pool, { cell: name, name: `${name}-${i}`, cpu: 4000, memory: 16384 });
}

async function job(cell: string, tasks: number, priority: number, cpu: number, extra = {}): Promise<number> {
  return submitJob(db.pool, { cell, tasks, priority, resources: { cpu, memory: 256 }, ...extra });
}

async function claims(jobId: number): Promise<number> {
  const { rows } = await db.pool.query("select count(*)::int as n from omega.claims where job_id = $1", [
    jobId,
  ]);
  return rows[0].n;
}

async function state(jobId: number): Promise<string> {
  const { rows } = await db.pool.query("select state from omega.jobs where id = $1", [jobId]);
  return rows[0].state;
}

const placed = (jobId: number, what: string) =>
  waitFor(async () => (await state(jobId)) === "placed", 60_000, what);

it("production evicts the fewest, lowest-priority tasks; victims wait, never evict back, and return when room appears", async () => {
  await cell("east", 4);
  const batch = await job("east", 8, 120, 1000);
  const bestEffort = await job("east", 8, 50, 1000);
  await placed(batch, "the batch job to fill half the cell");
  await placed(bestEffort, "the best-effort job to fill the rest");

  const prod = await job("east", 2, 300, 2000);
  await placed(prod, "the production job to preempt its way in");
  // Two 2-core tasks: four 1-core victims, all best-effort; the batch job is untouched.
  expect(await claims(batch)).toBe(8);
  expect(await claims(bestEffort)).toBe(4);
  const victims = await db.pool.query(
    "select reason from omega.tasks where job_id = $1 and state = 'pending'",
    [bestEffort],
  );
  expect(victims.rows).toHaveLength(4);
  for (const { reason } of victims.rows)
    expect(reason).toMatch(new RegExp(`^(preempted by job ${prod}|0/4 machines fit)`));
  const evicted = await db.pool.query("select sum(evicted)::int as n from omega.plans where cell = 'east'");
  expect(evicted.rows[0].n).toBe(4);

  // No cascade: the victims (50) may not evict the batch (120) or production work.
  await waitFor(
    async () =>
      (await db.pool.query("select blocked from omega.jobs where id = $1", [bestEffort])).rows[0].blocked,
    60_000,
    "the victims to be parked",
  );
  expect(await claims(batch)).toBe(8);
  expect(await claims(prod)).toBe(2);

  // Room appears: the victims are placed again.
  await db.pool.query("select omega.cancel_job($1)", [prod]);
  await placed(bestEffort, "the victims to be placed again once the production job is gone");
  expect(await claims(bestEffort)).toBe(8);
});

it("production never evicts production", async () => {
  await cell("west", 2);
  const first = await job("west", 2, 250, 4000);
  await placed(first, "the first production job");
  const second = await job("west", 1, 900, 4000);
  await waitFor(
    async () =>
      (await db.pool.query("select blocked from omega.jobs where id = $1", [second])).rows[0].blocked,
    60_000,
    "the second production job to be parked",
  );
  expect(await claims(first)).toBe(2);
  expect(await claims(second)).toBe(0);
  const reason = await db.pool.query("select reason from omega.pending_tasks where job_id = $1", [second]);
  expect(reason.rows[0].reason).toMatch(/^0\/2 machines fit: 2 insufficient cpu/);
});

it("a gang is kept whole: preemption takes other work rather than break it", async () => {
  await cell("north", 4);
  // The gang (priority 100, two whole machines) is the cheapest victim, but has no task to spare.
  const gang = await job("north", 2, 100, 4000, { gang: { minAvailable: 2 } });
  await placed(gang, "the gang");
  const batch = await job("north", 8, 150, 1000);
  await placed(batch, "the batch job");
  const prod = await job("north", 1, 300, 3000);
  await placed(prod, "the production job");
  expect(await claims(gang)).toBe(2);
  expect(await claims(batch)).toBe(5);
});
