import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeMachine, makeTenant, setQuota } from "../support/factories.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

// A 6-core quota for acme's batch work, on a cell with room for 40 cores: only the quota limits.
const QUOTA_CPU = 6000;

let db: TestDatabase;
let workers: OmegaProcess[];
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
  for (let i = 0; i < 10; i++) await makeMachine(db.pool, { cpu: 4000, memory: 16384 });
  await setQuota(db.pool, { cpu: QUOTA_CPU });
  workers = [
    ...Array.from({ length: 3 }, () => omega(["worker", "--scheduler", "batch"], { DATABASE_URL: db.url })),
    omega(["worker", "--scheduler", "service"], { DATABASE_URL: db.url }),
  ];
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await db.drop();
});

it("many workers and submitters never take a tenant past its quota; waiting work runs when room appears", async () => {
  // Four submitters at once, each with its own connection: 40 one-core jobs for a 6-core quota,
  // half of them through the service scheduler so two schedulers commit against one quota.
  const submitters = Array.from({ length: 4 }, async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) {
      const spec = {
        cell: "east",
        tasks: 1,
        priority: 150,
        scheduler: i % 2 ? "service" : "batch",
        resources: { cpu: 1000, memory: 512 },
      };
      const { rows } = await client.query("select omega.submit_job('acme', $1) as id", [spec]);
      ids.push(rows[0].id);
    }
    await client.end();
    return ids;
  });
  const jobs = (await Promise.all(submitters)).flat();

  await waitFor(
    async () =>
      (await usedCpu()) === QUOTA_CPU && (await waitingOnQuota()) === jobs.length - QUOTA_CPU / 1000,
    60_000,
    "the quota to fill and the rest to wait on it",
  );
  expect(await claimedCpu()).toBe(QUOTA_CPU);
  const reasons = await db.pool.query(
    "select distinct reason from omega.pending_tasks where tenant = 'acme' and job_id = any($1)",
    [jobs],
  );
  expect(reasons.rows.map((r) => r.reason)).toEqual([
    expect.stringMatching(/^quota: the batch quota has 0 cpu free/),
  ]);

  // Cancel what runs: the waiting work takes its place, still within the quota.
  const running = await db.pool.query(
    "select distinct job_id from omega.claims where tenant_id = (select id from omega.tenants where name = 'acme')",
  );
  for (const { job_id } of running.rows) await db.pool.query("select omega.cancel_job($1)", [job_id]);
  await waitFor(
    async () => (await usedCpu()) === QUOTA_CPU,
    60_000,
    "waiting work to be placed after cancellations",
  );
  expect(await claimedCpu()).toBe(QUOTA_CPU);
  const placed = await db.pool.query(
    "select count(*)::int as n from omega.jobs where id = any($1) and state = 'placed'",
    [jobs],
  );
  expect(placed.rows[0].n).toBe(QUOTA_CPU / 1000);
});

async function usedCpu(): Promise<number> {
  const { rows } = await db.pool.query("select used_cpu from omega.quota_usage where tenant = 'acme'");
  return rows[0].used_cpu;
}

/** Independent of the quota row: what acme's batch claims actually hold. */
async function claimedCpu(): Promise<number> {
  const { rows } = await db.pool.query(
    "select coalesce(sum(cpu), 0)::int as cpu from omega.claims where tenant_id = (select id from omega.tenants where name = 'acme') and priority between 100 and 199",
  );
  return rows[0].cpu;
}

async function waitingOnQuota(): Promise<number> {
  const { rows } = await db.pool.query(
    "select count(*)::int as n from omega.pending_tasks where tenant = 'acme' and reason like 'quota:%'",
  );
  return rows[0].n;
}
