import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Pool } from "../../src/db/pool.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { makeCell, makeMachine, makeTenant } from "../support/factories.ts";
import { cohortViolations, invariantViolations, type Violation } from "../support/invariants.ts";
import type { OmegaProcess } from "../support/processes.ts";
import { waitFor } from "../support/processes.ts";
import { profilesFile, raceProfiles, startWorkers, stopAll } from "../support/race-driver.ts";

/**
 * Cohorts under a race (SPEC "Sharing"): four worker processes, three tenants in one cohort with
 * 4-core nominal quotas on a 32-core cell — so only the cohort limits them. Two flood at once and
 * borrow the third's idle quota (one of them only up to its 2-core borrowingLimit); then the third's
 * own work arrives and takes its quota back by reclaim, without waiting for borrowed work to end.
 * SQL over the base tables checks invariant 3 for cohorts throughout.
 */

const NOMINAL = 4000;
let db: TestDatabase;
let workers: OmegaProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  for (let i = 0; i < 8; i++) await makeMachine(db.pool, { cpu: 4000, memory: 16384 });
  for (const tenant of ["ant", "bee", "cat"]) {
    await makeTenant(db.pool, tenant);
    await db.pool.query("select omega.put_quota($1, 'east', 'batch', $2, 'lab', $3)", [
      tenant,
      { cpu: NOMINAL },
      tenant === "bee" ? { cpu: 2000 } : null,
    ]);
  }
  workers = await startWorkers(
    db.url,
    ["batch", "batch", "batch", "batch"],
    await profilesFile(raceProfiles()),
  );
});
afterAll(async () => {
  await stopAll(workers);
  await db.drop();
});

it("borrows within the cohort's limits, and a lender's late work reclaims its quota at once, evicting no more than it needs", async () => {
  const seen: Violation[] = [];
  let racing = true;
  const checker = (async () => {
    while (racing) {
      seen.push(...(await invariantViolations(db.pool)));
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  try {
    // Two flooders, two connections each, 12 one-core jobs per connection.
    await Promise.all(
      ["ant", "ant", "bee", "bee"].map(async (tenant) => {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          for (let i = 0; i < 12; i++) await submit(client, tenant);
        } finally {
          await client.end();
        }
      }),
    );
    // The cohort lends all it has: 12 cores between ant and bee, bee at most 4 + 2.
    await waitFor(
      async () => (await used("ant")) + (await used("bee")) === 3 * NOMINAL,
      90_000,
      "ant and bee to use the whole cohort",
    );
    expect(await used("bee")).toBeLessThanOrEqual(NOMINAL + 2000);
    expect(await used("cat")).toBe(0);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const arrived = Date.now();
    const catJobs: number[] = [];
    for (let i = 0; i < 4; i++) catJobs.push(await submit(client, "cat"));
    await client.end();
    await waitFor(async () => (await used("cat")) === NOMINAL, 60_000, "cat to reclaim its quota").catch(
      async (error) => {
        // A rare wait seen once in the full suite: leave the state it ended in in the log.
        console.log("cat's work and the cohort when the wait timed out:", await stateOf(arrived));
        throw error;
      },
    );
    const latency = Date.now() - arrived;

    const { rows: plans } = await db.pool.query(
      `select c.task_id, p.evicted from omega.claims c join omega.plans p on p.cell = c.cell and p.id = c.plan_id
       where c.job_id = any($1)`,
      [catJobs],
    );
    // Each of cat's tasks was placed by a plan that evicted borrowed work: it did not wait for any
    // to finish, and no plan evicted more than it needed (an extra eviction leaves quota free, which
    // a later task then takes without evicting).
    expect(plans).toHaveLength(4);
    if (plans.some((p: { evicted: number }) => !(p.evicted > 0)))
      console.log("a plan of cat's evicted nothing:", await stateOf(arrived));
    for (const p of plans) expect(p.evicted).toBeGreaterThan(0);
    const { rows: reclaims } = await db.pool.query(
      `select count(*)::int as n from omega.events e join omega.jobs j on j.cell = e.cell and j.id = e.job_id
       join omega.tenants t on t.id = j.tenant_id
       where e.kind = 'preempted' and e.reason like 'reclaim%' and t.name in ('ant', 'bee')`,
    );
    expect(reclaims[0].n).toBeGreaterThanOrEqual(4);
    console.log(
      `cohort race: cat's 4 tasks reclaimed in ${latency} ms from arrival; ${reclaims[0].n} reclaims`,
    );
    expect((await used("ant")) + (await used("bee"))).toBe(2 * NOMINAL);
  } finally {
    racing = false;
    await checker;
  }
  expect(seen).toEqual([]);
  expect(await invariantViolations(db.pool)).toEqual([]);
  expect(await cohortViolations(db.pool)).toEqual([]);
}, 240_000);

async function submit(client: pg.Client, tenant: string): Promise<number> {
  const spec = { cell: "east", tasks: 1, priority: 150, resources: { cpu: 1000, memory: 512 } };
  const { rows } = await client.query("select omega.submit_job($1, $2) as id", [tenant, spec]);
  return rows[0].id;
}

async function used(tenant: string, pool: Pool = db.pool): Promise<number> {
  const { rows } = await pool.query(
    "select used_cpu from omega.quota_usage where tenant = $1 and cell = 'east' and band = 'batch'",
    [tenant],
  );
  return Number(rows[0].used_cpu);
}

/** Cat's unplaced jobs, the cohort's books and the plans since `since` (ms), for a failure's log. */
async function stateOf(since: number): Promise<string> {
  const queries = [
    `select j.id, j.state, j.pending_count, j.blocked, j.blocked_epoch, j.lease_owner, j.lease_expires,
       (select string_agg(distinct t.reason, '; ') from omega.tasks t where t.job_id = j.id) as reason
     from omega.jobs j join omega.tenants n on n.id = j.tenant_id where n.name = 'cat' and j.state = 'pending'`,
    "select capacity_epoch, now() from omega.cells",
    "select tenant, used_cpu, borrowed_cpu, lent_cpu from omega.quota_usage",
    `select id, right(worker, 8) as worker, attempted, committed, rejected, evicted, committed_at from omega.plans
     where committed_at >= to_timestamp($1 / 1000.0) order by id`,
  ];
  const parts = [];
  for (const q of queries) {
    const { rows } = await db.pool.query(q, q.includes("$1") ? [since] : []);
    parts.push(rows.map((r) => JSON.stringify(r)).join("\n"));
  }
  return parts.join("\n\n");
}
