import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { allowAnyPriority, makeCell, makeMachine, makeTenant } from "../support/factories.ts";
import { type OmegaProcess, omega, waitFor } from "../support/processes.ts";

let db: TestDatabase;
let workers: OmegaProcess[];
beforeAll(async () => {
  db = await createTestDatabase();
  await makeCell(db.pool);
  await makeTenant(db.pool);
  await allowAnyPriority(db.pool);
  for (const zone of ["a", "b", "c"]) await makeMachine(db.pool, { name: `m-${zone}`, labels: { zone } });
  workers = ["batch", "service"].map((s) => omega(["worker", "--scheduler", s], { DATABASE_URL: db.url }));
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await db.drop();
});

it("a job submitted with omega.submit_job from SQL is placed by the running workers", async () => {
  const { rows } = await db.pool.query(
    `select omega.submit_job('acme', '{"cell": "east", "tasks": 3, "resources": {"cpu": "1", "memory": "1Gi"}}') as id`,
  );
  const id = rows[0].id;
  await placedWithin(id, "the SQL-submitted job to be placed");
  const placed = await db.pool.query("select machine from omega.placements where job_id = $1", [id]);
  expect(placed.rows).toHaveLength(3);
});

it("a production job goes to the service scheduler, which spreads it across zones", async () => {
  const { rows } = await db.pool.query(
    `select omega.submit_job('acme', '{"cell": "east", "tasks": 3, "priority": "production",
       "resources": {"cpu": "500m"}, "constraints": {"spreadBy": "zone"}}') as id`,
  );
  const id = rows[0].id;
  await placedWithin(id, "the production job to be placed");
  const stats = await db.pool.query(
    "select scheduler, count(*)::int as n from omega.placements where job_id = $1 group by 1",
    [id],
  );
  expect(stats.rows).toEqual([{ scheduler: "service", n: 3 }]);
  const zones = await db.pool.query(
    `select count(distinct m.labels ->> 'zone')::int as zones from omega.claims c
     join omega.machines m on m.cell = c.cell and m.id = c.machine_id where c.job_id = $1`,
    [id],
  );
  expect(zones.rows[0].zones).toBe(3);
});

it("a job that fits nowhere is parked with an explanation, and placed when capacity appears", async () => {
  const { rows } = await db.pool.query(
    `select omega.submit_job('acme', '{"cell": "east", "tasks": 1, "resources": {"cpu": "64"}}') as id`,
  );
  const id = rows[0].id;
  const reason = await waitFor(
    async () => {
      const r = await db.pool.query("select reason from omega.pending_tasks where job_id = $1 and blocked", [
        id,
      ]);
      return r.rows[0]?.reason as string | undefined;
    },
    30_000,
    "the job to be parked",
  );
  expect(reason).toMatch(/^0\/3 machines fit: 3 insufficient cpu/);
  await makeMachine(db.pool, { name: "big", cpu: "128" });
  await placedWithin(id, "the parked job to be placed on the new machine");
});

function placedWithin(id: number, what: string): Promise<boolean> {
  return waitFor(
    async () => {
      const r = await db.pool.query("select state from omega.jobs where id = $1", [id]);
      return r.rows[0].state === "placed";
    },
    30_000,
    what,
  );
}
